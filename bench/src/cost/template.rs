//! What the cost model reads from template.yaml: the table's global secondary indexes (keys and
//! projection) and a few scalar properties (memory sizes, batch size, stream window). A line
//! reader for the template's own layout (block style, two-space indents); what it cannot read is
//! an error naming it, never a guess.

/// Which attributes an index copies besides the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

/// One global secondary index as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub pk: String,
    pub sk: Option<String>,
    pub projection: Projection,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_content(line: &str) -> bool {
    let trimmed = line.trim_start();
    !trimmed.is_empty() && !trimmed.starts_with('#')
}

/// The lines of resource `logical_id` (after its header, up to the next resource).
fn resource<'a>(template: &'a str, logical_id: &str) -> Result<Vec<&'a str>, String> {
    let header = format!("  {logical_id}:");
    let mut lines = template.lines().skip_while(|line| line.trim_end() != header);
    if lines.next().is_none() {
        return Err(format!("template.yaml has no resource {logical_id}"));
    }
    Ok(lines.take_while(|line| !is_content(line) || indent(line) > 2).collect())
}

/// The value of the first `key: value` line in resource `logical_id`, e.g. `MemorySize`.
pub fn resource_property(template: &str, logical_id: &str, key: &str) -> Result<String, String> {
    let prefix = format!("{key}:");
    resource(template, logical_id)?
        .iter()
        .map(|line| line.trim())
        .find_map(|line| line.strip_prefix(&prefix).map(|value| value.trim().trim_matches('"').to_string()))
        .ok_or_else(|| format!("template.yaml: {logical_id} has no {key}"))
}

/// `resource_property` as a number.
pub fn resource_number(template: &str, logical_id: &str, key: &str) -> Result<f64, String> {
    let value = resource_property(template, logical_id, key)?;
    value.parse().map_err(|_| format!("template.yaml: {logical_id}'s {key} is {value:?}, not a number"))
}

/// The `Default` of parameter `name`, unquoted.
pub fn parameter_default(template: &str, name: &str) -> Result<String, String> {
    let header = format!("  {name}:");
    template
        .lines()
        .skip_while(|line| line.trim_end() != header)
        .skip(1)
        .take_while(|line| !is_content(line) || indent(line) > 2)
        .find_map(|line| line.trim().strip_prefix("Default:").map(|v| v.trim().trim_matches('"').to_string()))
        .ok_or_else(|| format!("template.yaml: parameter {name} has no Default"))
}

/// The `Table` resource's global secondary indexes, in declaration order.
pub fn table_indexes(template: &str) -> Result<Vec<IndexSpec>, String> {
    let table = resource(template, "Table")?;
    let start = table
        .iter()
        .position(|line| line.trim() == "GlobalSecondaryIndexes:")
        .ok_or("template.yaml: Table has no GlobalSecondaryIndexes")?;
    let depth = indent(table[start]);
    let section: Vec<&str> =
        table[start + 1..].iter().copied().filter(|l| is_content(l)).take_while(|l| indent(l) > depth).collect();
    let mut blocks: Vec<Vec<&str>> = vec![];
    for line in section {
        if line.trim_start().starts_with("- IndexName:") {
            blocks.push(vec![]);
        }
        blocks.last_mut().ok_or("template.yaml: GlobalSecondaryIndexes must start with `- IndexName:`")?.push(line);
    }
    let indexes: Vec<IndexSpec> = blocks.iter().map(|block| index(block)).collect::<Result<_, _>>()?;
    if indexes.is_empty() {
        return Err("template.yaml: Table's GlobalSecondaryIndexes is empty".into());
    }
    Ok(indexes)
}

/// One index from its lines: `IndexName`, the `KeySchema` pairs, the `Projection`.
fn index(lines: &[&str]) -> Result<IndexSpec, String> {
    let (mut name, mut pk, mut sk, mut kind) = (None, None, None, None);
    let (mut attribute, mut non_key, mut in_non_key) = (None::<String>, vec![], false);
    for line in lines {
        let entry = line.trim().trim_start_matches("- ").trim();
        let Some((key, value)) = entry.split_once(':') else {
            if in_non_key {
                non_key.push(entry.to_string());
            }
            continue;
        };
        in_non_key = false;
        let value = value.trim().trim_matches('"').to_string();
        match key {
            "IndexName" => name = Some(value),
            "AttributeName" => attribute = Some(value),
            "KeyType" if value == "HASH" => pk = attribute.take(),
            "KeyType" if value == "RANGE" => sk = attribute.take(),
            "ProjectionType" => kind = Some(value),
            "NonKeyAttributes" if value.is_empty() => in_non_key = true,
            "NonKeyAttributes" => {
                let list = value.strip_prefix('[').and_then(|v| v.strip_suffix(']'));
                let list = list.ok_or_else(|| format!("template.yaml: NonKeyAttributes {value:?} is not a list"))?;
                non_key.extend(list.split(',').map(|a| a.trim().to_string()).filter(|a| !a.is_empty()));
            }
            _ => {}
        }
    }
    let name = name.ok_or("template.yaml: an index without IndexName")?;
    let pk = pk.ok_or_else(|| format!("template.yaml: index {name} has no HASH key"))?;
    let projection = match kind.as_deref() {
        Some("ALL") => Projection::All,
        Some("KEYS_ONLY") => Projection::KeysOnly,
        Some("INCLUDE") => Projection::Include(non_key),
        other => return Err(format!("template.yaml: index {name} has projection {other:?}")),
    };
    Ok(IndexSpec { name, pk, sk, projection })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "Resources:
  Fn:
    Properties:
      MemorySize: 256
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      GlobalSecondaryIndexes:
        # keys
        - IndexName: a
          KeySchema:
            - AttributeName: apk
              KeyType: HASH
            - AttributeName: ask
              KeyType: RANGE
          Projection:
            ProjectionType: KEYS_ONLY
          ProvisionedThroughput: !If
            - ProvisionedTable
            - ReadCapacityUnits: !Ref MinReadCapacity
            - !Ref AWS::NoValue
        - IndexName: b
          KeySchema:
            - AttributeName: bpk
              KeyType: HASH
          Projection:
            ProjectionType: INCLUDE
            NonKeyAttributes:
              - status
              - due
        - IndexName: c
          KeySchema:
            - AttributeName: cpk
              KeyType: HASH
          Projection:
            ProjectionType: INCLUDE
            NonKeyAttributes: [x, y]
      TimeToLiveSpecification:
        AttributeName: expires_at
  Bucket:
    Type: AWS::S3::Bucket
";

    #[test]
    fn the_reader_finds_each_indexs_keys_and_projection() {
        let indexes = table_indexes(TEMPLATE).unwrap();
        let spec = |name: &str, pk: &str, sk: Option<&str>, projection| IndexSpec {
            name: name.into(),
            pk: pk.into(),
            sk: sk.map(String::from),
            projection,
        };
        assert_eq!(
            indexes,
            vec![
                spec("a", "apk", Some("ask"), Projection::KeysOnly),
                spec("b", "bpk", None, Projection::Include(vec!["status".into(), "due".into()])),
                spec("c", "cpk", None, Projection::Include(vec!["x".into(), "y".into()])),
            ]
        );
        assert_eq!(resource_number(TEMPLATE, "Fn", "MemorySize").unwrap(), 256.0);
    }

    #[test]
    fn the_reader_refuses_what_it_cannot_read() {
        assert!(table_indexes("Resources:\n  Other:\n    Type: X\n").unwrap_err().contains("no resource Table"));
        let unknown = TEMPLATE.replace("ProjectionType: KEYS_ONLY", "ProjectionType: SOME");
        assert!(table_indexes(&unknown).unwrap_err().contains("index a has projection"));
        assert!(resource_number(TEMPLATE, "Fn", "Timeout").unwrap_err().contains("has no Timeout"));
    }

    #[test]
    fn the_real_template_declares_indexes_the_reader_can_read() {
        let template = std::fs::read_to_string(crate::workspace_root().join("template.yaml")).unwrap();
        let indexes = table_indexes(&template).unwrap();
        let adapter: Vec<&str> = outbox::adapters::dynamodb::indexes::ALL.iter().map(|index| index.name).collect();
        assert_eq!(indexes.iter().map(|index| index.name.as_str()).collect::<Vec<_>>(), adapter);
    }
}
