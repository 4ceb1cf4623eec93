//! Figure 6: the API process's peak resident memory after the largest inline media request its
//! body limit admits, against the size of that request (and its RSS just before, when warm).

use base64::Engine as _;
use serde::Serialize;
use serde_json::json;

use outbox_bench::median;
use outbox_bench::processes::memory_of;

use crate::harness::Bench;
use crate::report::{Figure, Measurement};

#[derive(Debug, Serialize)]
pub struct PeakRss {
    request_bytes: usize,
    decoded_media_bytes: usize,
    /// (peak, idle) bytes of each fresh API process.
    runs: Vec<(u64, u64)>,
}

impl Measurement for PeakRss {
    const TITLE: &'static str = "peak RSS for the largest inline media request";
    const KEY: &'static str = "6_rss";

    fn figures(&self) -> Vec<Figure> {
        let peak = median(&self.runs.iter().map(|(peak, _)| *peak as f64).collect::<Vec<_>>());
        let idle = median(&self.runs.iter().map(|(_, idle)| *idle as f64).collect::<Vec<_>>());
        let size = self.request_bytes as f64;
        vec![
            Figure::new("6", "peak RSS of the API process, largest inline media request", peak / 1e6, "MB")
                .against(size / 1e6)
                .goal("≤ 4× the request", peak / size, 4.0)
                .note(format!(
                    "a {:.2} MB request ({:.2} MB decoded image); RSS before it {:.1} MB, growth {:.2}× the request",
                    size / 1e6,
                    self.decoded_media_bytes as f64 / 1e6,
                    idle / 1e6,
                    (peak - idle) / size
                )),
        ]
    }
}

/// `runs` fresh API processes, each measured before and after one largest request.
pub async fn peak_rss(bench: &Bench<'_>, runs: usize) -> Result<PeakRss, String> {
    let (body, decoded) = largest_media_body(outbox::config::DEFAULT_MAX_BODY_BYTES);
    let mut measured = vec![];
    for _ in 0..runs {
        let stack = bench.api_stack(&bench.moto.endpoint, "off").await?;
        // One small send first, so the idle figure is a warm process's.
        bench.send_text(&stack.base, 0).await?;
        let (_, idle) = memory_of(stack.api.pid())?;
        bench.send_body(&stack.base, body.clone()).await?;
        let (peak, _) = memory_of(stack.api.pid())?;
        measured.push((peak, idle));
    }
    Ok(PeakRss { request_bytes: body.len(), decoded_media_bytes: decoded, runs: measured })
}

/// A send whose body is just under `limit` bytes: an image in base64 as large as fits.
fn largest_media_body(limit: usize) -> (String, usize) {
    let wrap = |filedata: &str| {
        json!({"chat_id": "919537851844", "message": "the largest inline image",
               "media": {"type": "image", "filename": "big.jpg", "mimetype": "image/jpeg", "filedata": filedata}})
        .to_string()
    };
    let overhead = wrap("").len();
    let decoded = (limit - overhead) / 4 * 3;
    let mut rng = fastrand::Rng::with_seed(11);
    let bytes: Vec<u8> = (0..decoded).map(|_| rng.u8(..)).collect();
    let body = wrap(&base64::engine::general_purpose::STANDARD.encode(&bytes));
    (body, decoded)
}
