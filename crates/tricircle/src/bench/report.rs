//! The bench's results: a table on stdout and a markdown block for
//! `docs/benchmarks.md` (between markers, so the text around it stays).

use std::fmt::Write as _;
use std::path::Path;

pub const BEGIN: &str = "<!-- tricircle bench: begin (generated; do not edit by hand) -->";
pub const END: &str = "<!-- tricircle bench: end -->";

#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Pass,
    /// Missed, by how much.
    Miss(String),
    /// No target: context for the other figures.
    Info,
}

impl Verdict {
    fn text(&self) -> String {
        match self {
            Verdict::Pass => "pass".into(),
            Verdict::Miss(by) => format!("**MISS** ({by})"),
            Verdict::Info => "–".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Row {
    pub group: &'static str,
    pub what: String,
    pub value: String,
    pub target: String,
    pub verdict: Verdict,
}

#[derive(Debug, Default)]
pub struct Report {
    pub command: String,
    pub facts: Vec<(String, String)>,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

/// `value ≤ limit` as a verdict, the miss told in `unit` and as a ratio.
pub fn at_most(value: f64, limit: f64, unit: &str) -> Verdict {
    let sep = if unit == "×" { "" } else { " " };
    if value <= limit {
        Verdict::Pass
    } else if limit > 0.0 {
        Verdict::Miss(format!(
            "+{:.2}{sep}{unit} over, {:.1}× the limit",
            value - limit,
            value / limit
        ))
    } else {
        Verdict::Miss(format!("+{:.2}{sep}{unit} over", value - limit))
    }
}

/// `value ≥ limit` as a verdict.
pub fn at_least(value: f64, limit: f64, unit: &str) -> Verdict {
    if value >= limit {
        Verdict::Pass
    } else {
        Verdict::Miss(format!("{:.2} {unit} short", limit - value))
    }
}

impl Report {
    pub fn row(
        &mut self,
        group: &'static str,
        what: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        verdict: Verdict,
    ) {
        self.rows.push(Row {
            group,
            what: what.into(),
            value: value.into(),
            target: target.into(),
            verdict,
        });
    }

    pub fn info(&mut self, group: &'static str, what: impl Into<String>, value: impl Into<String>) {
        self.row(group, what, value, "", Verdict::Info);
    }

    pub fn misses(&self) -> usize {
        self.rows.iter().filter(|r| matches!(r.verdict, Verdict::Miss(_))).count()
    }

    /// A plain-text table for the terminal.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let w = [
            self.rows.iter().map(|r| r.what.chars().count()).max().unwrap_or(0),
            self.rows.iter().map(|r| r.value.chars().count()).max().unwrap_or(0),
            self.rows.iter().map(|r| r.target.chars().count()).max().unwrap_or(0),
        ];
        let mut group = "";
        for r in &self.rows {
            if r.group != group {
                group = r.group;
                let _ = writeln!(out, "\n{group}");
            }
            let verdict = match &r.verdict {
                Verdict::Pass => "pass".to_string(),
                Verdict::Miss(by) => format!("MISS ({by})"),
                Verdict::Info => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:<a$}  {:>b$}  {:<c$}  {verdict}",
                r.what,
                r.value,
                r.target,
                a = w[0],
                b = w[1],
                c = w[2]
            );
        }
        out
    }

    /// The generated markdown block, markers included.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "{BEGIN}\n");
        let _ = writeln!(md, "Command: `{}`\n", self.command);
        let _ = writeln!(md, "| machine | |\n| --- | --- |");
        for (k, v) in &self.facts {
            let _ = writeln!(md, "| {k} | {v} |");
        }
        let _ = writeln!(md, "\n| group | measurement | value | target | verdict |");
        let _ = writeln!(md, "| --- | --- | --- | --- | --- |");
        for r in &self.rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                r.group,
                r.what,
                r.value,
                if r.target.is_empty() { "–" } else { &r.target },
                r.verdict.text()
            );
        }
        if !self.notes.is_empty() {
            md.push('\n');
            for n in &self.notes {
                let _ = writeln!(md, "- {n}");
            }
        }
        let _ = writeln!(md, "\n{END}");
        md
    }
}

/// Put `block` into `existing` between the markers (or append it).
pub fn splice(existing: &str, block: &str) -> String {
    match (existing.find(BEGIN), existing.find(END)) {
        (Some(b), Some(e)) if e > b => {
            let mut s = String::with_capacity(existing.len() + block.len());
            s.push_str(&existing[..b]);
            s.push_str(block.trim_end_matches('\n'));
            s.push_str(&existing[e + END.len()..]);
            s
        }
        _ if existing.trim().is_empty() => format!("# Benchmarks\n\n{block}"),
        _ => format!("{}\n\n{block}", existing.trim_end()),
    }
}

/// Write the report into `path`, keeping whatever is outside the markers.
pub fn write(path: &Path, report: &Report) -> anyhow::Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, splice(&existing, &report.markdown()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(at_most(1.0, 1.0, "ms"), Verdict::Pass);
        assert_eq!(at_most(3.0, 1.5, "ms"), Verdict::Miss("+1.50 ms over, 2.0× the limit".into()));
        assert_eq!(at_most(4.8, 2.0, "×"), Verdict::Miss("+2.80× over, 2.4× the limit".into()));
        assert_eq!(at_least(0.6, 0.5, "x"), Verdict::Pass);
        assert_eq!(at_least(0.4, 0.5, "x"), Verdict::Miss("0.10 x short".into()));
    }

    #[test]
    fn splice_keeps_the_text_around_the_markers() {
        let block = format!("{BEGIN}\nnew\n{END}\n");
        let doc = format!("# T\n\nintro\n\n{BEGIN}\nold\n{END}\n\nanalysis\n");
        assert_eq!(
            splice(&doc, &block),
            format!("# T\n\nintro\n\n{BEGIN}\nnew\n{END}\n\nanalysis\n")
        );
        assert_eq!(splice("", &block), format!("# Benchmarks\n\n{block}"));
        assert_eq!(splice("# T\n", &block), format!("# T\n\n{block}"));
    }

    #[test]
    fn markdown_has_every_row() {
        let mut r = Report { command: "tricircle bench".into(), ..Default::default() };
        r.facts.push(("nproc".into(), "2".into()));
        r.row("latency", "p50", "0.5 ms", "≤ 1 ms", Verdict::Pass);
        r.info("latency", "direct p50", "0.1 ms");
        let md = r.markdown();
        assert!(md.starts_with(BEGIN) && md.trim_end().ends_with(END));
        assert!(md.contains("| latency | p50 | 0.5 ms | ≤ 1 ms | pass |"));
        assert!(md.contains("| latency | direct p50 | 0.1 ms | – | – |"));
        assert_eq!(r.misses(), 0);
        assert!(r.table().contains("direct p50"));
    }
}
