//! The list prices the cost model multiplies by: us-east-1, past the free tier, as AWS publishes
//! them on the page each names (checked November 2026; DynamoDB's on-demand prices are the ones in
//! force since the 50% cut of November 2024, its provisioned prices unchanged by it).

use serde::Serialize;

/// One list price: `usd` buys `per` units.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Price {
    pub item: &'static str,
    pub usd: f64,
    pub per: f64,
    pub unit: &'static str,
    pub source: &'static str,
}

impl Price {
    /// What `units` cost.
    pub fn of(&self, units: f64) -> f64 {
        units * self.usd / self.per
    }
}

pub const API_GATEWAY_HTTP: Price = Price {
    item: "API Gateway HTTP API",
    usd: 1.00,
    per: 1e6,
    unit: "requests (first 300 M a month; each 512 KB of request payload counts as one)",
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
    unit: "requests (each 64 KB chunk of payload is one; a batch call counts once)",
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
pub const DYNAMODB_WCU_HOUR: Price = Price {
    item: "DynamoDB provisioned write capacity",
    usd: 0.000_65,
    per: 1.0,
    unit: "WCU-hour (one 1 KB write per second for an hour)",
    source: "https://aws.amazon.com/dynamodb/pricing/provisioned/",
};
pub const DYNAMODB_RCU_HOUR: Price = Price {
    item: "DynamoDB provisioned reads",
    usd: 0.000_13,
    per: 1.0,
    unit: "RCU-hour (a strongly consistent read of up to 4 KB a second)",
    source: "https://aws.amazon.com/dynamodb/pricing/provisioned/",
};
pub const DYNAMODB_STORAGE: Price = Price {
    item: "DynamoDB storage, Standard table class",
    usd: 0.25,
    per: 1.0,
    unit: "GB-month (first 25 GB a month free; each item and index entry + 100 bytes)",
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
};
pub const S3_PUT: Price = Price {
    item: "S3 Standard PUT",
    usd: 0.005,
    per: 1e3,
    unit: "PUT/COPY/POST/LIST requests",
    source: "https://aws.amazon.com/s3/pricing/",
};
pub const S3_GET: Price = Price {
    item: "S3 Standard GET",
    usd: 0.0004,
    per: 1e3,
    unit: "GET/SELECT and other requests",
    source: "https://aws.amazon.com/s3/pricing/",
};
pub const S3_STORAGE: Price = Price {
    item: "S3 Standard storage",
    usd: 0.023,
    per: 1.0,
    unit: "GB-month (first 50 TB)",
    source: "https://aws.amazon.com/s3/pricing/",
};
pub const DATA_TRANSFER_OUT: Price = Price {
    item: "Data transfer out to the internet",
    usd: 0.09,
    per: 1.0,
    unit: "GB (first 100 GB a month free, then the first 10 TB)",
    source: "https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer",
};

/// Every price the model uses, for the JSON next to the figures.
pub const PRICES: [Price; 13] = [
    API_GATEWAY_HTTP,
    LAMBDA_REQUESTS,
    LAMBDA_ARM64,
    SQS_STANDARD,
    DYNAMODB_WRITES,
    DYNAMODB_READS,
    DYNAMODB_WCU_HOUR,
    DYNAMODB_RCU_HOUR,
    DYNAMODB_STORAGE,
    S3_PUT,
    S3_GET,
    S3_STORAGE,
    DATA_TRANSFER_OUT,
];

/// Provisioned capacity's price of one write unit when auto scaling keeps consumption at
/// `utilisation` of what is provisioned: a WCU-hour buys 3,600 writes at 100%.
pub fn provisioned_write_unit(utilisation: f64) -> f64 {
    DYNAMODB_WCU_HOUR.usd / (3600.0 * utilisation)
}

/// The same for one strongly consistent read unit.
pub fn provisioned_read_unit(utilisation: f64) -> f64 {
    DYNAMODB_RCU_HOUR.usd / (3600.0 * utilisation)
}
