//! Figure 7: what a million text messages cost on AWS, on demand and with provisioned capacity,
//! against issue 13's goals. The figures are the cost model's (`outbox_bench::cost`, whose whole
//! table the `cost` binary prints after this run): the real items' write units under the
//! template's indexes, the template's memory sizes, and the durations this run measured (the send
//! handler's CPU, figure 3; a delivery batch's wall time, figure 4).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use outbox_bench::cost::{self, Cost, Inputs};
use outbox_bench::workspace_root;

use crate::report::{Figure, Measurement};

/// Messages a second one phone sends (the `cost` binary's default): the status stream's counter
/// writes are shared by a window's.
const PHONE_RATE: f64 = 10.0;

/// Issue 13's goals for a text message's requests and compute, per million.
const ON_DEMAND_GOAL: f64 = 4.0;
const PROVISIONED_GOAL: f64 = 2.60;

#[derive(Debug, Serialize)]
pub struct CostFigures {
    /// Requests and compute per million text messages (storage aside, as the goals are set).
    on_demand: f64,
    provisioned: f64,
    floor_on_demand: f64,
    floor_provisioned: f64,
    /// Whether the durations are this run's (figures 3 and 4) rather than the model's defaults.
    measured: bool,
    /// The text's lines, largest first: component, dollars on demand.
    largest: Vec<(String, f64)>,
}

impl Measurement for CostFigures {
    const TITLE: &'static str = "cost per million text messages (the cost model, on this run's durations)";
    const KEY: &'static str = "7_cost";

    fn figures(&self) -> Vec<Figure> {
        let durations = if self.measured {
            "this run's durations"
        } else {
            "assumed durations (figures 3 and 4 were not both run)"
        };
        let largest =
            self.largest.iter().map(|(component, usd)| format!("{component} ${usd:.2}")).collect::<Vec<_>>().join(", ");
        vec![
            Figure::new("7", "cost per million text messages, on-demand table (arm64)", self.on_demand, "USD")
                .goal("≤ $4", self.on_demand, ON_DEMAND_GOAL)
                .note(format!(
                    "requests and compute, {durations}; floor ${:.2} (3 WRU, nothing else written or read); largest: {largest}; the whole model follows (`cost`)",
                    self.floor_on_demand
                )),
            Figure::new("7p", "cost per million text messages, provisioned table at 70% (arm64)", self.provisioned, "USD")
                .goal("≤ $2.60", self.provisioned, PROVISIONED_GOAL)
                .note(format!("floor ${:.2}", self.floor_provisioned)),
        ]
    }
}

/// The cost model on template.yaml and the details measured so far.
pub async fn figures(details: &BTreeMap<&'static str, Value>) -> Result<CostFigures, String> {
    let path = workspace_root().join("template.yaml");
    let template = std::fs::read_to_string(&path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let inputs = Inputs::read(&template, Some(&json!({ "details": details })), PHONE_RATE)?;
    let costs = cost::model(&inputs).await?;
    let named = |name: &str| {
        costs.iter().find(|cost| cost.name.starts_with(name)).ok_or_else(|| format!("the cost model has no {name}"))
    };
    let (text, floor): (&Cost, &Cost) = (named("text")?, named("floor")?);
    let mut largest: Vec<(String, f64)> = text
        .lines
        .iter()
        .filter(|line| !line.component.contains("storage") && line.on_demand >= 0.01)
        .map(|line| (line.component.to_string(), line.on_demand))
        .collect();
    largest.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(CostFigures {
        on_demand: text.requests_and_compute(false),
        provisioned: text.requests_and_compute(true),
        floor_on_demand: floor.requests_and_compute(false),
        floor_provisioned: floor.requests_and_compute(true),
        measured: inputs.measured,
        largest,
    })
}
