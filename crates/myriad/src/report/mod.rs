//! Reports: what a [`Summary`] says, for people and for machines.
//!
//! A report is a pure function of the [`Summary`]: the machine's facts
//! ([`Summary::machine`]) and the thresholds' verdicts ([`Summary::verdicts`])
//! were captured into it when the run ended, so nothing here reads the machine
//! or judges a threshold. [`ReportModel::from_summary`] computes every derived
//! figure once (rates, percentiles, histogram buckets, notes); each
//! [`Reporter`] formats that one model, so text and JSON never disagree.
//!
//! ```no_run
//! use myriad::report::{JsonReporter, ReportModel, Reporter, TextReporter};
//! # fn show(summary: &myriad::Summary) -> std::io::Result<()> {
//! let model = ReportModel::from_summary(summary);
//! let mut out = std::io::stdout();
//! TextReporter.report(&model, &mut out)?;
//! JsonReporter.report(&model, &mut std::fs::File::create("report.json")?)?;
//! # Ok(()) }
//! ```

mod html;
mod model;
mod svg;
mod text;

use std::io::{self, Write};

pub use crate::units::{format_bytes, format_count, format_micros};
pub use html::{HtmlReporter, HtmlSection};
pub use model::{
    Bucket, BytesReport, ClientReport, ConfigReport, ConnectionsReport, InputReport, KernelReport,
    LatencyReport, LimitsReport, ReportModel, RequestsReport, SelfCheckReport, SpectrumPoint,
    TallyReport, TargetReport, WarmupReport,
};
pub use text::TextReporter;

#[cfg(doc)]
use crate::summary::Summary;

/// The schema identifier written in every JSON report.
pub const SCHEMA_ID: &str = "myriad-report/1";

/// The JSON Schema that every JSON report validates against.
pub const JSON_SCHEMA: &str = include_str!("../../../../schema/report.schema.json");

/// Writes one report of a run's figures.
pub trait Reporter {
    /// Writes the report of `model` to `out`.
    fn report(&self, model: &ReportModel, out: &mut dyn Write) -> io::Result<()>;
}

/// The JSON report (schema [`JSON_SCHEMA`]), pretty-printed, one document.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonReporter;

impl Reporter for JsonReporter {
    fn report(&self, model: &ReportModel, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, model)?;
        writeln!(out)
    }
}
