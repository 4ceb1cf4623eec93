//! How results are printed: aligned tables for listings (the last line of a create is what scripts capture).

/// Left-aligned columns, two spaces apart, one line per row.
pub fn table<const N: usize>(header: [&str; N], rows: impl IntoIterator<Item = [String; N]>) -> String {
    let rows: Vec<[String; N]> = rows.into_iter().collect();
    let widths: [usize; N] = std::array::from_fn(|column| {
        rows.iter().map(|row| row[column].chars().count()).chain([header[column].len()]).max().unwrap_or(0)
    });
    let line = |cells: [&str; N]| {
        let padded: Vec<String> = cells.iter().zip(widths).map(|(cell, width)| format!("{cell:width$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header);
    for row in &rows {
        out.push_str(&line(std::array::from_fn(|column| row[column].as_str())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let rows = [["key-1".to_string(), "obx_1234".to_string()], ["key-long-id".to_string(), "-".to_string()]];
        assert_eq!(table(["KEY_ID", "PREFIX"], rows), "KEY_ID       PREFIX\nkey-1        obx_1234\nkey-long-id  -\n");
    }
}
