//! The output: one `Figure` per table row, the `Measurement` each step of the run returns, the
//! results collected in run order, and the table with its notes (figure 7 adds its breakdown).

use std::collections::BTreeMap;
use std::future::Future;

use serde::Serialize;
use serde_json::Value;

/// How many measurements a run makes (the `n/7` of the progress lines).
const STEPS: usize = 7;

/// One row of the table, and of `figures` in bench/results.json.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    id: String,
    name: String,
    value: f64,
    unit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio: Option<f64>,
    goal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    met: Option<bool>,
    note: String,
}

impl Figure {
    pub fn new(id: &str, name: &str, value: f64, unit: &str) -> Figure {
        Figure {
            id: id.into(),
            name: name.into(),
            value,
            unit: unit.into(),
            baseline: None,
            ratio: None,
            goal: "-".into(),
            met: None,
            note: String::new(),
        }
    }

    pub fn against(mut self, baseline: f64) -> Figure {
        self.baseline = Some(baseline);
        self.ratio = Some(self.value / baseline);
        self
    }

    /// The goal as text, and whether `measure` (the value or the ratio) meets `at_most`.
    pub fn goal(mut self, text: &str, measure: f64, at_most: f64) -> Figure {
        self.goal = text.into();
        self.met = Some(measure <= at_most);
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Figure {
        self.note = note.into();
        self
    }
}

/// What one step of the run measured: its details in bench/results.json and its rows of the table.
pub trait Measurement: Serialize {
    /// The progress line's text.
    const TITLE: &'static str;
    /// The key of its details in bench/results.json.
    const KEY: &'static str;
    fn figures(&self) -> Vec<Figure>;
}

/// The figures and their details, in the order they were measured.
#[derive(Default)]
pub struct Results {
    pub figures: Vec<Figure>,
    pub details: BTreeMap<&'static str, Value>,
}

impl Results {
    /// Announces the next step on stderr, runs `measurement` and keeps its figures and details.
    pub async fn measure<M: Measurement>(
        &mut self,
        measurement: impl Future<Output = Result<M, String>>,
    ) -> Result<M, String> {
        eprintln!("bench: {}/{STEPS} {}", self.details.len() + 1, M::TITLE);
        let measured = measurement.await?;
        self.figures.extend(measured.figures());
        self.details.insert(M::KEY, serde_json::to_value(&measured).unwrap_or_default());
        Ok(measured)
    }
}

/// The table, then each figure's note.
pub fn render(figures: &[Figure]) -> String {
    table(figures)
}

/// One aligned row per figure, under a header, and the notes of those that have one.
fn table(figures: &[Figure]) -> String {
    let mut rows = vec![[
        "#".to_string(),
        "figure".into(),
        "value".into(),
        "baseline".into(),
        "ratio".into(),
        "goal".into(),
        "met".into(),
    ]];
    for f in figures {
        rows.push([
            f.id.clone(),
            f.name.clone(),
            // Request counts get three decimals: the amortised per-second requests show there.
            if f.unit == "requests" {
                format!("{:.3} {}", f.value, f.unit)
            } else {
                format!("{} {}", short(f.value), f.unit)
            },
            f.baseline.map(short).unwrap_or_else(|| "-".into()),
            f.ratio.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "-".into()),
            f.goal.clone(),
            match f.met {
                Some(true) => "yes".into(),
                Some(false) => "NO".into(),
                None => "-".into(),
            },
        ]);
    }
    let widths: Vec<usize> = (0..7).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut text = String::from("\n");
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:w$}")).collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
        if i == 0 {
            text.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
            text.push('\n');
        }
    }
    text.push_str("\nnotes:\n");
    for f in figures {
        if !f.note.is_empty() {
            text.push_str(&format!("  {}: {}\n", f.id, f.note));
        }
    }
    text
}

fn short(value: f64) -> String {
    match value.abs() {
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_its_columns_and_lists_the_notes() {
        let figures = [
            Figure::new("1a", "requests per send", 2.005, "requests")
                .against(2.0)
                .goal("≤ 2", 2.005, 2.0)
                .note("counted"),
            Figure::new("3a", "handler CPU", 6.886, "µs").goal("< 100 µs", 6.886, 100.0),
            Figure::new("6", "peak RSS", 34.078, "MB").against(6.29),
        ];
        let expected = "
#   figure             value           baseline  ratio  goal      met
--  -----------------  --------------  --------  -----  --------  ---
1a  requests per send  2.005 requests  2.00      1.00×  ≤ 2       NO
3a  handler CPU        6.89 µs         -         -      < 100 µs  yes
6   peak RSS           34.1 MB         6.29      5.42×  -         -

notes:
  1a: counted
";
        assert_eq!(table(&figures), expected);
    }

    #[test]
    fn values_get_fewer_decimals_as_they_grow() {
        assert_eq!(
            (short(3400.8), short(13.61), short(2.005), short(-0.5)),
            ("3401".into(), "13.6".into(), "2.00".into(), "-0.50".into())
        );
    }
}
