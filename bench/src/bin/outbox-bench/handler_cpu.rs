//! Figure 3: the send handler's CPU time per request, over in-memory ports, read from the
//! criterion benchmark `scripts/bench.sh` runs first (shared/benches/send_handler.rs, thread CPU
//! time); against the 100 µs goal, not a baseline.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::report::{Figure, Measurement};

#[derive(Debug, Serialize)]
pub struct HandlerCpu {
    /// Criterion's median estimate, in microseconds of thread CPU time per request.
    pub text_us: f64,
    text_rate_limited_us: f64,
    image_1mb_us: f64,
}

impl Measurement for HandlerCpu {
    const TITLE: &'static str = "send handler CPU time (criterion results)";
    const KEY: &'static str = "3_handler_cpu";

    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::new("3a", "send handler CPU per text request (in-memory ports)", self.text_us, "µs")
                .goal("< 100 µs", self.text_us, 100.0)
                .note(format!(
                    "criterion, thread CPU time; with the (in-memory) rate limiter {:.1} µs",
                    self.text_rate_limited_us
                )),
            Figure::new("3b", "send handler CPU per 1 MB base64 image request", self.image_1mb_us, "µs")
                .note("1 MiB decoded (1.4 MB of base64): JSON parse, base64 decode, copy to the media store"),
        ]
    }
}

/// Criterion's median estimates under `root`'s target/criterion.
pub fn from_criterion(root: &Path) -> Result<HandlerCpu, String> {
    let estimate = |name: &str| -> Result<f64, String> {
        let path = root.join(format!("target/criterion/send_handler/{name}/new/estimates.json"));
        let text = std::fs::read_to_string(&path).map_err(|err| {
            format!("{} is missing ({err}): run `cargo bench -p outbox --bench send_handler` first", path.display())
        })?;
        let json: Value = serde_json::from_str(&text).map_err(|err| format!("{}: {err}", path.display()))?;
        json["median"]["point_estimate"].as_f64().map(|ns| ns / 1e3).ok_or(format!("{}: no median", path.display()))
    };
    Ok(HandlerCpu {
        text_us: estimate("text")?,
        text_rate_limited_us: estimate("text_rate_limited")?,
        image_1mb_us: estimate("image_1mb")?,
    })
}
