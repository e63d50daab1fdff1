//! Reports: what a [`Summary`] says, for people and for machines.
//!
//! [`ReportModel`] computes every derived figure once (rates, percentiles,
//! histogram buckets, notes); both printers read it, so text and JSON never
//! disagree. A [`Reporter`] writes one report to any `Write`.

mod model;
mod text;

use std::io::{self, Write};

pub use model::{
    Bucket, BytesReport, ClientReport, ConfigReport, ConnectionsReport, KernelReport,
    LatencyReport, LimitsReport, ReportModel, RequestsReport, TallyReport, TargetReport,
};
pub use text::{format_bytes, format_count, format_micros, TextReporter};

use crate::summary::Summary;

/// The schema identifier written in every JSON report.
pub const SCHEMA_ID: &str = "myriad-report/1";

/// The JSON Schema that every JSON report validates against.
pub const JSON_SCHEMA: &str = include_str!("../../../../schema/report.schema.json");

/// Writes a report of a summary.
pub trait Reporter {
    /// Writes the report of `summary` to `out`.
    fn report(&self, summary: &Summary, out: &mut dyn Write) -> io::Result<()>;
}

/// The JSON report (schema [`JSON_SCHEMA`]), pretty-printed, one document.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonReporter;

impl Reporter for JsonReporter {
    fn report(&self, summary: &Summary, out: &mut dyn Write) -> io::Result<()> {
        let model = ReportModel::from_summary(summary);
        serde_json::to_writer_pretty(&mut *out, &model)?;
        writeln!(out)
    }
}
