//! Figure 6: the API process's peak resident memory after one inline media request of 1 MiB,
//! 3 MiB and the largest its body limit admits (6 MiB), against the size of that request (and its
//! RSS just before, when warm).

use base64::Engine as _;
use serde::Serialize;
use serde_json::json;

use outbox_bench::median;
use outbox_bench::processes::memory_of;

use crate::harness::Bench;
use crate::report::{Figure, Measurement};

const MIB: usize = 1024 * 1024;

#[derive(Debug, Serialize)]
pub struct PeakRss {
    sizes: Vec<SizeRss>,
}

#[derive(Debug, Serialize)]
pub struct SizeRss {
    request_bytes: usize,
    decoded_media_bytes: usize,
    /// (peak, idle) bytes of each fresh API process.
    runs: Vec<(u64, u64)>,
}

impl Measurement for PeakRss {
    const TITLE: &'static str = "peak RSS for inline media requests of 1, 3 and 6 MiB";
    const KEY: &'static str = "6_rss";

    fn figures(&self) -> Vec<Figure> {
        self.sizes
            .iter()
            .map(|measured| {
                let peak = median(&measured.runs.iter().map(|(peak, _)| *peak as f64).collect::<Vec<_>>());
                let idle = median(&measured.runs.iter().map(|(_, idle)| *idle as f64).collect::<Vec<_>>());
                let size = measured.request_bytes as f64;
                let mib = (size / MIB as f64).round();
                // The largest request keeps the id "6" the earlier runs reported.
                let id = if measured.request_bytes + MIB > outbox::config::DEFAULT_MAX_BODY_BYTES {
                    "6".to_string()
                } else {
                    format!("6:{mib}MiB")
                };
                Figure::new(
                    &id,
                    &format!("peak RSS of the API process, {mib} MiB inline media request"),
                    peak / 1e6,
                    "MB",
                )
                .against(size / 1e6)
                .goal("≤ 4× the request", peak / size, 4.0)
                .note(format!(
                    "a {:.2} MB request ({:.2} MB decoded image); RSS before it {:.1} MB, growth {:.2}× the request",
                    size / 1e6,
                    measured.decoded_media_bytes as f64 / 1e6,
                    idle / 1e6,
                    (peak - idle) / size
                ))
            })
            .collect()
    }
}

/// For each size, `runs` fresh API processes, each measured before and after one such request.
pub async fn peak_rss(bench: &Bench<'_>, runs: usize) -> Result<PeakRss, String> {
    let mut sizes = vec![];
    for limit in [MIB, 3 * MIB, outbox::config::DEFAULT_MAX_BODY_BYTES] {
        let (body, decoded) = media_body(limit);
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
        sizes.push(SizeRss { request_bytes: body.len(), decoded_media_bytes: decoded, runs: measured });
    }
    Ok(PeakRss { sizes })
}

/// A send whose body is just under `limit` bytes: an image in base64 as large as fits.
fn media_body(limit: usize) -> (String, usize) {
    let wrap = |filedata: &str| {
        json!({"chat_id": "919537851844", "message": "an inline image",
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
