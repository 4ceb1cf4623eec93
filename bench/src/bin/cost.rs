//! `cost`: the cost model's table (bench/src/cost), fast and without AWS; `make bench` runs it
//! after the measured figures, whose durations it then uses.

use std::process::ExitCode;

use clap::Parser;

use outbox_bench::cost::{self, Inputs};
use outbox_bench::workspace_root;

#[derive(Parser, Debug)]
#[command(
    about = "What a text, a 1 MB image and a broadcast of 1,000 cost on AWS, on demand and provisioned, and the floor"
)]
struct Options {
    /// Messages a second one phone sends: the status stream's counter writes are shared by a window's.
    #[arg(long, default_value_t = 10.0)]
    phone_rate: f64,
    /// Also write the model as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Options::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cost: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), String> {
    if !options.phone_rate.is_finite() || options.phone_rate <= 0.0 {
        return Err("--phone-rate must be above 0".into());
    }
    let root = workspace_root();
    let path = root.join("template.yaml");
    let template = std::fs::read_to_string(&path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let inputs = Inputs::read(&template, cost::last_results(&root).as_ref(), options.phone_rate)?;
    let costs = cost::model(&inputs).await?;
    print!("{}", cost::render(&inputs, &costs));
    if let Some(out) = options.json {
        let json = serde_json::json!({"inputs": inputs, "costs": costs, "prices": cost::prices::PRICES});
        let text = serde_json::to_string_pretty(&json).map_err(|err| err.to_string())?;
        std::fs::write(&out, text + "\n").map_err(|err| format!("cannot write {}: {err}", out.display()))?;
    }
    Ok(())
}
