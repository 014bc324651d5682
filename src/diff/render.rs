//! The report for humans (the JSON form is `DiffReport`'s `Serialize`).

use std::io;
use std::io::Write;

use super::{DiffReport, Verdict};

/// Prints a report for humans.
pub fn print(report: &DiffReport, out: &mut impl Write) -> io::Result<()> {
    if report.identical {
        writeln!(
            out,
            "identical: {} and {} ({})",
            report.a, report.b, report.nar_a
        )?;
        return Ok(());
    }
    writeln!(out, "{} differs from {}", report.a, report.b)?;
    writeln!(out, "  NAR {} vs {}", report.nar_a, report.nar_b)?;
    for d in &report.differences {
        let verdict = match d.verdict {
            Some(Verdict::FixedByStripNd) => " [fixed by strip-nd]",
            Some(Verdict::NotFixed) => " [not fixed]",
            None => "",
        };
        let handler = d.handler.map(|h| format!(" ({h})")).unwrap_or_default();
        writeln!(out, "{}{handler}{verdict}", d.path)?;
        if !d.fields.is_empty() {
            writeln!(out, "  {}", d.fields.join("; "))?;
        }
        for r in &d.remaining {
            writeln!(out, "  | {r}")?;
        }
        for h in &d.hints {
            writeln!(out, "  hint: {h}")?;
        }
    }
    writeln!(
        out,
        "{} differences: {} fixed by strip-nd, {} not fixed",
        report.differences.len(),
        report.fixed,
        report.not_fixed
    )?;
    if report.fixed > 0 {
        writeln!(
            out,
            "strip-nd removes the differences marked fixed: add its setup hook (stripNdHook) to the derivation's nativeBuildInputs"
        )?;
    }
    Ok(())
}
