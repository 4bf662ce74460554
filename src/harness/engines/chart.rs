//! The engine-by-bug figures as a markdown table ([`markdown`], also printed on stdout) and
//! an SVG chart ([`svg`]), drawn by hand like every picture of the project. Both are written
//! only from a [`Measurement`]: nothing here runs anything.
//!
//! The chart has a row per bug and in it a lane per engine: a bar from the left edge to the
//! median seconds to detection, a dot per detecting trial, a red cross at the budget per
//! missed trial, on a logarithmic time axis (detections take from a millisecond to minutes)
//! with the goals drawn as dashed lines.

use std::fmt::Write as _;

use super::{
    Cell, Engine, Measurement, Outcome, Summary, AFL_SEED_KEY, AFL_SEED_LEN, LIBFUZZER_MAX_LEN,
};

/// The fastest time the chart's axis shows, in seconds; faster detections sit on its edge.
const AXIS_MIN_SECONDS: f64 = 1e-3;
/// Width of the bug-name column, in pixels.
const LABEL_WIDTH: f64 = 250.0;
/// Width of the plot.
const PLOT_WIDTH: f64 = 640.0;
/// Room right of the plot.
const RIGHT_MARGIN: f64 = 40.0;
/// Room above the first row (title, legend).
const TOP: f64 = 64.0;
/// Room below the last row (tick labels).
const BOTTOM: f64 = 36.0;
/// Height of one engine's lane.
const LANE: f64 = 9.0;
/// Space between two bugs' rows.
const ROW_GAP: f64 = 7.0;
/// Longest note (an unrelated finding's text) kept in the table.
const MAX_NOTE_CHARS: usize = 160;

/// Each engine's colour in the chart.
const fn colour(engine: Engine) -> &'static str {
    match engine {
        Engine::Campaign => "#1f77b4",
        Engine::Libfuzzer => "#2ca02c",
        Engine::Afl => "#ff7f0e",
        Engine::Proptest => "#9467bd",
    }
}

/// Seconds as the table prints them: three significant-ish digits.
pub fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{s:.3} s")
    } else if s < 10.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.1} s")
    }
}

/// Text for a markdown table cell: `|` escaped, line breaks flattened.
fn md(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// Text for SVG content or an attribute.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// One cell's text: median seconds, median executions, seeds that found it.
pub fn cell_text(engine: Engine, cell: &Cell) -> String {
    match &cell.outcome {
        Outcome::NotRun(why) => format!("not run: {why}"),
        Outcome::Trials(trials) => {
            let s = Summary::of(trials);
            let found = format!("{}/{}", s.found, s.trials);
            match (s.median_seconds, s.median_executions) {
                (Some(secs), Some(execs)) => format!(
                    "{} · {:.0} {} · {found}",
                    seconds(secs),
                    execs,
                    engine.executions()
                ),
                _ => format!("MISSED (median > {} s) · {found}", cell.budget),
            }
        }
    }
}

/// Whether `cell` meets `engine`'s goals (a cell not run does not).
fn meets(engine: Engine, cell: &Cell) -> bool {
    match &cell.outcome {
        Outcome::NotRun(_) => false,
        Outcome::Trials(t) => Summary::of(t).meets(engine.goal_seconds()),
    }
}

/// The markdown table of `m` with its goal column, summary lines and notes (the whole of
/// `docs/engines.md`).
pub fn markdown(m: &Measurement) -> String {
    let engines = m.engines();
    let mut out = String::new();
    let _ = write!(
        out,
        "# Every engine on every seeded bug\n\n\
         Written by `kvafuzz bugs --engine ENGINE` (src/harness/engines/) from its own \
         measurements (kept in engines.json; each run replaces the cells it measured). Each \
         cell: the median wall seconds and executions to detection over the seeds, and how \
         many seeds found the bug; a missed seed counts as infinitely slow, so a median \
         exists only when most seeds found it. Executions are the campaign's and proptest's \
         generated cases, libFuzzer's `stat::number_of_executed_units` and AFL++'s \
         `execs_done`. libFuzzer starts from an empty corpus (inputs up to {max_len} bytes \
         from the first run: `-max_len={max_len} -len_control=0`; its schedule scaled by run \
         time, `-entropic_scale_per_exec_time=1`, as in ci/fuzz) and AFL++ from one fixed \
         {seed_len}-byte seed (pseudo-random bytes, ChaCha8 key {seed_key}, passing on \
         every target with any one bug on): `corpus/` holds regression inputs for these very \
         bugs, and starting from it would measure replay, not finding. One core per trial; \
         the seeds fix the campaign's and proptest's inputs; libFuzzer's and AFL++'s \
         schedules also weigh run times, so their runs vary a little.\n\n\
         Goals: every bug found on every seed by every engine; median seconds within \
         10 s for the campaign, 120 s for libFuzzer and AFL++ (and proptest's budget).\n\n\
         ![median seconds to detection per bug and engine](engines.svg)\n\n",
        max_len = LIBFUZZER_MAX_LEN,
        seed_len = AFL_SEED_LEN,
        seed_key = AFL_SEED_KEY,
    );
    let _ = write!(out, "| bug | target |");
    for e in &engines {
        let _ = write!(out, " {} |", e.name());
    }
    out.push_str(" goal |\n|---|---|");
    for _ in &engines {
        out.push_str("---|");
    }
    out.push_str("---|\n");
    for row in &m.rows {
        let _ = write!(out, "| {} | {} |", md(&row.bug), md(&row.target));
        let mut missed = Vec::new();
        for &e in &engines {
            match row.cells.get(&e) {
                Some(cell) => {
                    let _ = write!(out, " {} |", md(&cell_text(e, cell)));
                    if !meets(e, cell) {
                        missed.push(e.name());
                    }
                }
                None => out.push_str(" not measured |"),
            }
        }
        if missed.is_empty() {
            out.push_str(" met |\n");
        } else {
            let _ = writeln!(out, " MISSED: {} |", missed.join(", "));
        }
    }
    out.push_str("\n## Goals\n\n");
    for line in summary_lines(m) {
        let _ = writeln!(out, "- {}", md(&line));
    }
    let notes = notes(m);
    if !notes.is_empty() {
        out.push_str("\n## Notes on missed trials\n\n");
        for n in notes {
            let _ = writeln!(out, "- {}", md(&n));
        }
    }
    out
}

/// One line per engine: budgets and seeds, how many bugs met each goal, met or MISSED with
/// the bugs that missed.
pub fn summary_lines(m: &Measurement) -> Vec<String> {
    let mut lines = Vec::new();
    for e in m.engines() {
        let cells: Vec<(&str, &Cell)> = m
            .rows
            .iter()
            .filter_map(|r| r.cells.get(&e).map(|c| (r.bug.as_str(), c)))
            .collect();
        let mut budgets: Vec<u64> = cells.iter().map(|(_, c)| c.budget).collect();
        budgets.sort_unstable();
        budgets.dedup();
        let mut seeds: Vec<usize> = cells
            .iter()
            .filter_map(|(_, c)| match &c.outcome {
                Outcome::Trials(t) => Some(t.len()),
                Outcome::NotRun(_) => None,
            })
            .collect();
        seeds.sort_unstable();
        seeds.dedup();
        let list = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join("/");
        let seeds: Vec<u64> = seeds.iter().map(|&n| n as u64).collect();
        let all_found = cells
            .iter()
            .filter(|(_, c)| match &c.outcome {
                Outcome::Trials(t) => !t.is_empty() && Summary::of(t).found == t.len(),
                Outcome::NotRun(_) => false,
            })
            .count();
        let missed: Vec<&str> = cells
            .iter()
            .filter(|(_, c)| !meets(e, c))
            .map(|(b, _)| *b)
            .collect();
        let verdict = if missed.is_empty() {
            "met".to_string()
        } else {
            format!("MISSED ({})", missed.join(", "))
        };
        lines.push(format!(
            "{}: {} seeds, budget {} s per trial: found on every seed for {}/{} bugs, \
             median within {} s for {}/{}: {verdict}",
            e.name(),
            list(&seeds),
            list(&budgets),
            all_found,
            cells.len(),
            e.goal_seconds(),
            cells.len() - missed.len(),
            cells.len(),
        ));
    }
    lines
}

/// The notes of missed trials (an unrelated finding) and cells not run, one per line.
fn notes(m: &Measurement) -> Vec<String> {
    let mut notes = Vec::new();
    for row in &m.rows {
        for (e, cell) in &row.cells {
            match &cell.outcome {
                Outcome::NotRun(why) => {
                    notes.push(format!("{} / {}: not run: {why}", row.bug, e.name()));
                }
                Outcome::Trials(trials) => {
                    for t in trials {
                        if let Some(n) = &t.note {
                            let short: String = n.chars().take(MAX_NOTE_CHARS).collect();
                            notes.push(format!(
                                "{} / {} seed {}: {short}",
                                row.bug,
                                e.name(),
                                t.seed
                            ));
                        }
                    }
                }
            }
        }
    }
    notes
}

/// The log axis: from [`AXIS_MIN_SECONDS`] to the first power of ten at or above every
/// budget.
struct Axis {
    /// log10 of the axis's right end.
    top: f64,
}

impl Axis {
    fn of(m: &Measurement) -> Axis {
        let longest = m
            .rows
            .iter()
            .flat_map(|r| r.cells.values())
            .map(|c| c.budget)
            .max()
            .unwrap_or(1)
            .max(1);
        Axis {
            top: (longest as f64).log10().ceil().max(0.0),
        }
    }

    /// The x of `s` seconds (clamped to the axis).
    fn x(&self, s: f64) -> f64 {
        let low = AXIS_MIN_SECONDS.log10();
        let v = s.max(AXIS_MIN_SECONDS).log10().min(self.top);
        LABEL_WIDTH + (v - low) / (self.top - low) * PLOT_WIDTH
    }

    /// The decades shown as ticks, as exponents.
    fn decades(&self) -> Vec<i32> {
        let low = AXIS_MIN_SECONDS.log10().round() as i32;
        (low..=self.top as i32).collect()
    }
}

/// A decade's tick label.
fn decade_label(exp: i32) -> String {
    match exp {
        e if e < 0 => format!("{} s", 10f64.powi(e)),
        e => format!("{} s", 10u64.pow(e.unsigned_abs())),
    }
}

/// The chart of `m`: per bug, per engine, the median seconds to detection on a log axis,
/// each trial marked (a red cross for a miss, at the budget).
pub fn svg(m: &Measurement) -> String {
    let engines = m.engines();
    let axis = Axis::of(m);
    let row_height = LANE * engines.len().max(1) as f64 + ROW_GAP;
    let plot_height = row_height * m.rows.len() as f64;
    let width = LABEL_WIDTH + PLOT_WIDTH + RIGHT_MARGIN;
    let height = TOP + plot_height + BOTTOM;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"10\">"
    );
    let _ = writeln!(
        s,
        "<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n<text x=\"8\" y=\"18\" \
         font-size=\"13\">Median seconds to detection per seeded bug and engine (log axis; \
         dots: trials; red x: missed at the budget)</text>"
    );
    for (i, e) in engines.iter().enumerate() {
        let x = LABEL_WIDTH + i as f64 * 110.0;
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"30\" width=\"12\" height=\"8\" fill=\"{}\"/><text x=\"{}\" \
             y=\"38\">{}</text>",
            colour(*e),
            x + 16.0,
            e.name()
        );
    }
    let bottom = TOP + plot_height;
    for exp in axis.decades() {
        let x = axis.x(10f64.powi(exp));
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\" stroke=\"#ddd\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            bottom + 14.0,
            decade_label(exp)
        );
    }
    let mut goals: Vec<u64> = engines.iter().map(|e| e.goal_seconds()).collect();
    goals.sort_unstable();
    goals.dedup();
    for g in goals {
        let x = axis.x(g as f64);
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{bottom}\" stroke=\"#444\" \
             stroke-dasharray=\"4 3\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">\
             goal {g} s</text>",
            TOP - 10.0,
            TOP - 12.0
        );
    }
    for (r, row) in m.rows.iter().enumerate() {
        let y0 = TOP + r as f64 * row_height;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{} ({})</text>",
            LABEL_WIDTH - 6.0,
            y0 + row_height / 2.0,
            xml(&row.bug),
            xml(&row.target)
        );
        for (i, e) in engines.iter().enumerate() {
            let y = y0 + i as f64 * LANE;
            if let Some(cell) = row.cells.get(e) {
                lane(&mut s, &axis, *e, cell, y);
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

/// One engine's lane of one bug at height `y`.
fn lane(s: &mut String, axis: &Axis, e: Engine, cell: &Cell, y: f64) {
    let mid = y + LANE / 2.0;
    let trials = match &cell.outcome {
        Outcome::NotRun(why) => {
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#888\" font-size=\"8\">{} not run: {}\
                 </text>",
                LABEL_WIDTH + 4.0,
                y + LANE - 1.0,
                e.name(),
                xml(why)
            );
            return;
        }
        Outcome::Trials(t) => t,
    };
    let summary = Summary::of(trials);
    if let Some(median) = summary.median_seconds {
        let _ = writeln!(
            s,
            "<rect x=\"{LABEL_WIDTH}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
             fill=\"{}\" fill-opacity=\"0.55\"><title>{}: median {}</title></rect>",
            y + 1.0,
            (axis.x(median) - LABEL_WIDTH).max(1.0),
            LANE - 2.0,
            colour(e),
            e.name(),
            seconds(median)
        );
    }
    for t in trials {
        if t.found {
            let _ = writeln!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{mid:.1}\" r=\"2\" fill=\"{}\"/>",
                axis.x(t.seconds),
                colour(e)
            );
        } else {
            let x = axis.x(cell.budget as f64);
            let _ = writeln!(
                s,
                "<path d=\"M{:.1} {:.1}L{:.1} {:.1}M{:.1} {:.1}L{:.1} {:.1}\" stroke=\"red\" \
                 stroke-width=\"1.5\"><title>{} seed {}: missed</title></path>",
                x - 3.0,
                mid - 3.0,
                x + 3.0,
                mid + 3.0,
                x - 3.0,
                mid + 3.0,
                x + 3.0,
                mid - 3.0,
                e.name(),
                t.seed
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Trial;
    use super::*;

    fn trial(seed: u64, found: bool, seconds: f64, executions: u64) -> Trial {
        Trial {
            seed,
            found,
            seconds,
            executions,
            note: None,
        }
    }

    fn fixed() -> Measurement {
        let mut m = Measurement::default();
        let trials = |t: Vec<Trial>, budget: u64| Cell {
            budget,
            outcome: Outcome::Trials(t),
        };
        m.put(
            "zero-sentinel",
            "vmem",
            Engine::Campaign,
            trials(
                vec![
                    trial(0, true, 0.02, 40),
                    trial(1, true, 0.5, 900),
                    trial(2, true, 0.1, 100),
                ],
                10,
            ),
        );
        m.put(
            "zero-sentinel",
            "vmem",
            Engine::Afl,
            Cell {
                budget: 120,
                outcome: Outcome::NotRun("cargo-afl is not installed".into()),
            },
        );
        let mut odd = trial(1, false, 120.0, 5000);
        odd.note = Some("unrelated finding: a <b> | c".into());
        m.put(
            "a<b>&\"c\"",
            "mmu",
            Engine::Afl,
            trials(
                vec![trial(0, true, 30.0, 700), odd, trial(2, false, 120.0, 9)],
                120,
            ),
        );
        m
    }

    #[test]
    fn the_table_has_medians_counts_and_goals() {
        let text = markdown(&fixed());
        assert!(
            text.contains("| bug | target | campaign | afl | goal |"),
            "{text}"
        );
        assert!(
            text.contains(
                "| zero-sentinel | vmem | 0.100 s · 100 cases · 3/3 | not run: \
                           cargo-afl is not installed | MISSED: afl |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| not measured | MISSED (median > 120 s) · 1/3 | MISSED: afl |"),
            "{text}"
        );
        assert!(text.contains(
            "campaign: 3 seeds, budget 10 s per trial: found on every \
                               seed for 1/1 bugs, median within 10 s for 1/1: met"
        ));
        assert!(text.contains("median within 120 s for 0/2: MISSED (zero-sentinel, a<b>&"));
        assert!(text.contains("a<b>&\"c\" / afl seed 1: unrelated finding: a <b> \\| c"));
        assert!(text.contains("zero-sentinel / afl: not run: cargo-afl is not installed"));
    }

    #[test]
    fn cells_print_the_median_over_an_even_count() {
        let cell = Cell {
            budget: 10,
            outcome: Outcome::Trials(vec![trial(0, true, 1.0, 10), trial(1, true, 2.0, 21)]),
        };
        assert_eq!(
            cell_text(Engine::Libfuzzer, &cell),
            "1.50 s · 16 execs · 2/2"
        );
        assert_eq!(seconds(42.25), "42.2 s");
    }

    #[test]
    fn the_chart_uses_a_log_axis_and_marks_misses() {
        let m = fixed();
        let picture = svg(&m);
        assert!(picture.starts_with("<svg ") && picture.ends_with("</svg>\n"));
        let axis = Axis::of(&m);
        assert_eq!(
            axis.decades(),
            vec![-3, -2, -1, 0, 1, 2, 3],
            "up to 1000 s for 120 s"
        );
        let step = axis.x(0.01) - axis.x(0.001);
        assert!(
            (axis.x(10.0) - axis.x(1.0) - step).abs() < 1e-9,
            "equal decades"
        );
        assert_eq!(
            axis.x(1e-9),
            LABEL_WIDTH,
            "faster than the axis sits on its edge"
        );
        assert_eq!(picture.matches("missed</title>").count(), 2);
        assert_eq!(picture.matches("<circle").count(), 4);
        assert!(picture.contains("a&lt;b&gt;&amp;&quot;c&quot; (mmu)"));
        assert!(!picture.contains("a<b>"));
        assert!(picture.contains("afl not run: cargo-afl is not installed"));
        assert!(picture.contains(">goal 10 s<") && picture.contains(">goal 120 s<"));
        assert_eq!(decade_label(-2), "0.01 s");
        assert_eq!(decade_label(2), "100 s");
    }
}
