//! Figure 7: what a million text messages cost on AWS, from the counted requests (figure 1), the
//! handler's CPU time (figure 3), the template's memory sizes and the list prices below.

use serde::Serialize;

/// One list price. All are us-east-1, on demand, past the free tier, as published by AWS on
/// the pages named in `source` (checked November 2026; DynamoDB's on-demand prices are the
/// ones in force since the 50% cut of November 2024).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Price {
    pub item: &'static str,
    pub usd: f64,
    /// How many units `usd` buys.
    pub per: f64,
    pub unit: &'static str,
    pub source: &'static str,
}

pub const API_GATEWAY_HTTP: Price = Price {
    item: "API Gateway HTTP API",
    usd: 1.00,
    per: 1e6,
    unit: "requests (first 300 M a month; each 512 KB of payload counts as one)",
    source: "https://aws.amazon.com/api-gateway/pricing/",
};
pub const LAMBDA_REQUESTS: Price = Price {
    item: "Lambda requests",
    usd: 0.20,
    per: 1e6,
    unit: "invocations",
    source: "https://aws.amazon.com/lambda/pricing/",
};
pub const LAMBDA_ARM64: Price = Price {
    item: "Lambda duration, arm64",
    usd: 0.000_013_333_4,
    per: 1.0,
    unit: "GB-second (first 6 B GB-s a month), billed per 1 ms",
    source: "https://aws.amazon.com/lambda/pricing/",
};
pub const SQS_STANDARD: Price = Price {
    item: "SQS standard queue",
    usd: 0.40,
    per: 1e6,
    unit: "requests (each 64 KB chunk of payload is one; batch calls count once)",
    source: "https://aws.amazon.com/sqs/pricing/",
};
pub const DYNAMODB_WRITES: Price = Price {
    item: "DynamoDB on-demand writes",
    usd: 0.625,
    per: 1e6,
    unit: "write request units (1 per KB written, per table and per GSI the write touches)",
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
};
pub const DYNAMODB_READS: Price = Price {
    item: "DynamoDB on-demand reads",
    usd: 0.125,
    per: 1e6,
    unit: "read request units (1 per 4 KB strongly consistent, 0.5 eventually consistent)",
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
};
pub const S3_PUT: Price = Price {
    item: "S3 Standard PUT",
    usd: 0.005,
    per: 1e3,
    unit: "PUT/COPY/POST/LIST requests (inline media only; none for text)",
    source: "https://aws.amazon.com/s3/pricing/",
};

/// The one table of prices the arithmetic uses.
pub const PRICES: [Price; 7] =
    [API_GATEWAY_HTTP, LAMBDA_REQUESTS, LAMBDA_ARM64, SQS_STANDARD, DYNAMODB_WRITES, DYNAMODB_READS, S3_PUT];

/// What one text message costs in requests and compute, per path.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// API Gateway requests (1 per send).
    pub api_requests: f64,
    /// Lambda invocations: the API's plus the delivery's share of a batch.
    pub invocations: f64,
    /// Billed GB-seconds of all functions.
    pub gb_seconds: f64,
    pub sqs_requests: f64,
    pub dynamodb_wru: f64,
    pub dynamodb_rru: f64,
    pub s3_puts: f64,
}

/// One line of the cost table: the component, how it was computed, dollars per million messages.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub component: &'static str,
    pub arithmetic: String,
    pub usd_per_million: f64,
}

pub fn per_million(usage: &Usage) -> Vec<Line> {
    let line = |component: &'static str, units: f64, price: Price, what: &str| Line {
        component,
        arithmetic: format!("{units:.4} {what} × 1e6 × ${} / {}", price.usd, price.per),
        usd_per_million: units * 1e6 * price.usd / price.per,
    };
    vec![
        line("API Gateway", usage.api_requests, API_GATEWAY_HTTP, "requests"),
        line("Lambda requests", usage.invocations, LAMBDA_REQUESTS, "invocations"),
        line("Lambda duration", usage.gb_seconds, LAMBDA_ARM64, "GB-s"),
        line("SQS", usage.sqs_requests, SQS_STANDARD, "requests"),
        line("DynamoDB writes", usage.dynamodb_wru, DYNAMODB_WRITES, "WRU"),
        line("DynamoDB reads", usage.dynamodb_rru, DYNAMODB_READS, "RRU"),
        line("S3", usage.s3_puts, S3_PUT, "PUTs"),
    ]
}

/// Lambda bills whole milliseconds.
pub fn billed_gb_seconds(memory_mb: f64, duration_ms: f64) -> f64 {
    memory_mb / 1024.0 * duration_ms.max(1.0).ceil() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arithmetic_multiplies_units_by_the_unit_price() {
        let usage = Usage {
            api_requests: 1.0,
            invocations: 1.1,
            gb_seconds: billed_gb_seconds(256.0, 0.2),
            sqs_requests: 1.2,
            dynamodb_wru: 6.0,
            dynamodb_rru: 0.0,
            s3_puts: 0.0,
        };
        let lines = per_million(&usage);
        let cost = |name: &str| lines.iter().find(|l| l.component == name).unwrap().usd_per_million;
        assert!((cost("API Gateway") - 1.0).abs() < 1e-9);
        assert!((cost("SQS") - 0.48).abs() < 1e-9);
        assert!((cost("DynamoDB writes") - 3.75).abs() < 1e-9);
        // 0.25 GB × 1 ms (billed minimum) × $0.0000133334 per GB-s × 1e6
        assert!((cost("Lambda duration") - 0.25 * 0.001 * 13.3334).abs() < 1e-9);
    }
}
