//! # Address maps: a finding at a glance
//!
//! A trace says what happened op by op; a map shows where. Every target's machine can draw
//! its address space ([`super::drive::Machine::address_map`]) as [`Layer`]s: one per thing it
//! keeps (an arena's spans, its allocations, a vmap space's busy and lazily freed areas and
//! their guard pages, a page table's coverage), each with the implementation's ranges and the
//! model's side by side. [`render`] turns a map into an SVG picture:
//!
//! - two rows per layer, the implementation's above the model's, each range a box shaded by
//!   what it is ([`Shade`]), with a legend;
//! - every range one side has and the other lacks outlined in red: where the two disagree is
//!   what a reader looks for first, and the map finds it without knowing the check that
//!   failed;
//! - the addresses the failing op and the oracle named (its resolved arguments and both
//!   claims) drawn as red vertical marks, and the op's text and the finding as the caption.
//!
//! ## The axis
//!
//! Address spaces are 2^32 to 2^57 bytes wide and the ranges in them a few pages: a linear
//! axis would draw every allocation as nothing. The axis is cut at every range boundary and
//! mark, and each piece between two cuts gets a width that grows with the logarithm of its
//! length (`piece_weight`): a one-byte hole stays visible beside a terabyte gap, and order
//! is kept. Tick labels name the cut addresses (as many as fit).
//!
//! ## Capture
//!
//! [`capture`] runs a target's scenario with map capture switched on for this thread: the
//! shared driver ([`super::drive::drive`]) then asks the machine for its map when the first
//! check fails, or after the last op when none does, and [`capture`] hands it back beside the
//! verdict. Off (every engine, the campaign), it costs one thread-local read per scenario.
//! Drawing reads only listings, and is itself guarded: a machine whose implementation broke so
//! badly that even listing it panics yields no map, not a second finding.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::target::{unframe, AnyTarget};
use super::{BugSet, Finding, FindingKind, Stats};

/// What a drawn range is; each has its own fill in the picture and a line in the legend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shade {
    /// A span (address space handed to an allocator), or a space's bounds.
    Span,
    /// A span imported from a source level.
    Imported,
    /// Free space inside a span.
    Free,
    /// A live allocation (segment, area, entry, object).
    Live,
    /// A guard page or redzone: owned by an allocation, never handed out.
    Guard,
    /// Freed but not yet purged or flushed (lazily freed vmap areas, stale TLB entries).
    Lazy,
    /// Covered by a page-table mapping.
    Mapped,
    /// Held by a cache (a slab's free items, a magazine, a quantum cache).
    Cached,
}

impl Shade {
    /// Every shade, in legend order.
    pub const ALL: [Shade; 8] = [
        Shade::Span,
        Shade::Imported,
        Shade::Free,
        Shade::Live,
        Shade::Guard,
        Shade::Lazy,
        Shade::Mapped,
        Shade::Cached,
    ];

    /// Its name in the legend.
    pub const fn name(self) -> &'static str {
        match self {
            Shade::Span => "span",
            Shade::Imported => "imported span",
            Shade::Free => "free",
            Shade::Live => "live",
            Shade::Guard => "guard",
            Shade::Lazy => "lazily freed",
            Shade::Mapped => "mapped",
            Shade::Cached => "cached",
        }
    }

    /// Its fill colour.
    const fn fill(self) -> &'static str {
        match self {
            Shade::Span => "#d9d9d9",
            Shade::Imported => "#bfbfbf",
            Shade::Free => "#b7e1a1",
            Shade::Live => "#6c8ebf",
            Shade::Guard => "#f4a259",
            Shade::Lazy => "#b39ddb",
            Shade::Mapped => "#4db6ac",
            Shade::Cached => "#fff59d",
        }
    }
}

/// One range of a layer: `[start, last]` (inclusive, so a range may end at `u64::MAX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Band {
    /// Its first address.
    pub start: u64,
    /// Its last address (at least `start`).
    pub last: u64,
    /// What it is.
    pub shade: Shade,
}

impl Band {
    /// `[start, last]` as `shade`, or `None` when `last < start`.
    pub fn new(start: u64, last: u64, shade: Shade) -> Option<Band> {
        (start <= last).then_some(Band { start, last, shade })
    }

    /// `size` bytes from `start` as `shade`: `None` when `size` is 0 or the range would pass
    /// the top of the address space.
    pub fn sized(start: u64, size: u64, shade: Shade) -> Option<Band> {
        let last = start.checked_add(size.checked_sub(1)?)?;
        Band::new(start, last, shade)
    }
}

/// One thing a machine keeps, as the implementation and the model each hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// What it is: `arena allocations`, `vmap areas`, `page table`.
    pub name: String,
    /// The implementation's ranges.
    pub implementation: Vec<Band>,
    /// The model's ranges.
    pub model: Vec<Band>,
}

impl Layer {
    /// A layer called `name` from the implementation's and the model's ranges (ranges that
    /// cannot be drawn, `None`, are left out).
    pub fn new(
        name: impl Into<String>,
        implementation: impl IntoIterator<Item = Option<Band>>,
        model: impl IntoIterator<Item = Option<Band>>,
    ) -> Layer {
        Layer {
            name: name.into(),
            implementation: implementation.into_iter().flatten().collect(),
            model: model.into_iter().flatten().collect(),
        }
    }

    /// The ranges one side has and the other lacks: `(implementation's, model's)`.
    pub fn disagreements(&self) -> (BTreeSet<Band>, BTreeSet<Band>) {
        let a: BTreeSet<Band> = self.implementation.iter().copied().collect();
        let b: BTreeSet<Band> = self.model.iter().copied().collect();
        let only_a = a.difference(&b).copied().collect();
        let only_b = b.difference(&a).copied().collect();
        (only_a, only_b)
    }
}

/// A machine's address space as layers (see the module comment).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressMap {
    /// Its layers, top to bottom.
    pub layers: Vec<Layer>,
}

impl AddressMap {
    /// A map of `layers`.
    pub fn new(layers: Vec<Layer>) -> AddressMap {
        AddressMap { layers }
    }

    /// Whether any layer's two sides differ.
    pub fn disagrees(&self) -> bool {
        self.layers.iter().any(|l| {
            let (a, b) = l.disagreements();
            !a.is_empty() || !b.is_empty()
        })
    }
}

/// The gaps `[first, last]` leaves between `ranges` (sorted by start, each `(start, last)`,
/// inclusive; parts outside `[first, last]` are ignored), as free bands.
pub fn free_between(first: u64, last: u64, ranges: &[(u64, u64)]) -> Vec<Option<Band>> {
    let mut out = Vec::new();
    let mut next = u128::from(first);
    let top = u128::from(last);
    for &(s, l) in ranges {
        if next > top {
            return out;
        }
        if u128::from(s) > next {
            let end = (u128::from(s) - 1).min(top);
            out.push(Band::new(next as u64, end as u64, Shade::Free));
        }
        next = next.max(u128::from(l) + 1);
    }
    if next <= top {
        out.push(Band::new(next as u64, last, Shade::Free));
    }
    out
}

/// `ranges` (inclusive, by address) merged where one ends right before the next starts, as
/// `shade` bands: a page table's leaves, page by page, drawn as the runs they map.
pub fn merged_runs(ranges: impl IntoIterator<Item = (u64, u64)>, shade: Shade) -> Vec<Band> {
    let mut runs: Vec<Band> = Vec::new();
    for (start, last) in ranges {
        match runs.last_mut() {
            Some(run) if run.last.checked_add(1) == Some(start) => run.last = last,
            _ => runs.extend(Band::new(start, last, shade)),
        }
    }
    runs
}

/// `list()`, or nothing and a note saying why when it panics: how a layer lists an
/// implementation whose structure a bug broke (a page table pointing at a freed table), so
/// the map still shows the model's side, and the implementation's as empty, named as such.
pub fn listed<T>(list: impl FnOnce() -> Vec<T>) -> (Vec<T>, String) {
    match super::panics::catch(list) {
        Ok(v) => (v, String::new()),
        Err(report) => (
            Vec::new(),
            format!(" (cannot be listed: {})", report.message),
        ),
    }
}

/// The most ranges one row draws; the rest are counted in the row's label. A vmap space can
/// hold 16,384 areas, which no reader inspects box by box.
pub const MAX_BANDS_PER_ROW: usize = 4096;

/// The most marks drawn (addresses named by the failing op and its verdict).
pub const MAX_MARKS: usize = 16;

/// Width of the drawing area, in pixels, right of the row labels.
const PLOT_WIDTH: f64 = 1100.0;
/// Width of the row labels' column (`implementation`, `model`).
const LABEL_WIDTH: f64 = 120.0;
/// Height of a layer's heading line (its name), above its two rows.
const HEADING: f64 = 16.0;
/// Room right of the drawing area for the last tick label.
const RIGHT_MARGIN: f64 = 70.0;
/// Height of one row.
const ROW_HEIGHT: f64 = 22.0;
/// Gap between two layers.
const LAYER_GAP: f64 = 10.0;
/// Height reserved above the rows for the caption lines.
const CAPTION_LINE: f64 = 16.0;
/// Room for the tick labels under the rows.
const TICK_ROOM: f64 = 120.0;
/// Closest two tick labels may be, in pixels.
const TICK_SPACING: f64 = 14.0;
/// Longest caption line, in characters (longer lines are wrapped).
const CAPTION_COLUMNS: usize = 150;

/// The width weight of an axis piece `len` bytes long: 1 plus a twelfth of its log2, so a
/// 2^48-byte gap is five times as wide as a one-byte piece.
fn piece_weight(len: u128) -> f64 {
    let log2 = 127 - len.max(1).leading_zeros();
    1.0 + f64::from(log2) / 12.0
}

/// The axis: cut points (addresses, as u128 so `u64::MAX + 1` is one) and each cut's x.
struct Axis {
    cuts: Vec<u128>,
    xs: Vec<f64>,
}

impl Axis {
    /// An axis cut at every band boundary and mark of `map`.
    fn of(map: &AddressMap, marks: &[u64]) -> Axis {
        let mut cuts: BTreeSet<u128> = BTreeSet::new();
        for layer in &map.layers {
            for b in layer.implementation.iter().chain(&layer.model) {
                cuts.insert(u128::from(b.start));
                cuts.insert(u128::from(b.last) + 1);
            }
        }
        cuts.extend(marks.iter().map(|&m| u128::from(m)));
        let cuts: Vec<u128> = cuts.into_iter().collect();
        let weights: Vec<f64> = cuts.windows(2).map(|w| piece_weight(w[1] - w[0])).collect();
        let total: f64 = weights.iter().sum::<f64>().max(1.0);
        let mut xs = Vec::with_capacity(cuts.len());
        let mut x = 0.0;
        xs.push(LABEL_WIDTH);
        for w in &weights {
            x += w / total * PLOT_WIDTH;
            xs.push(LABEL_WIDTH + x);
        }
        Axis { cuts, xs }
    }

    /// The x of address `a` (a cut, or the nearest cut below it).
    fn x(&self, a: u128) -> f64 {
        let i = self.cuts.partition_point(|&c| c <= a).saturating_sub(1);
        self.xs.get(i).copied().unwrap_or(LABEL_WIDTH)
    }
}

/// `s` with the characters XML gives a meaning escaped.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut into lines of at most [`CAPTION_COLUMNS`] characters, at spaces where it can
/// (a word longer than a line is cut).
fn wrapped(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for line in text.lines() {
        let mut current = String::new();
        for word in line.split(' ') {
            let mut word: Vec<char> = word.chars().collect();
            while word.len() > CAPTION_COLUMNS {
                if !current.is_empty() {
                    lines.push(std::mem::take(&mut current));
                }
                lines.push(word.drain(..CAPTION_COLUMNS).collect());
            }
            let word: String = word.into_iter().collect();
            let needed = current.chars().count() + 1 + word.chars().count();
            if !current.is_empty() && needed > CAPTION_COLUMNS {
                lines.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&word);
        }
        if !current.trim().is_empty() {
            lines.push(current);
        }
    }
    lines
}

/// The SVG picture of `map` under `caption` (one or more lines), with red marks at `marks`
/// (see the module comment).
///
/// Marks outside the drawn ranges' hull (below the lowest range or past the highest) are
/// left out: a number the text names there is a size or an offset more often than an
/// address, and would stretch the axis for nothing.
pub fn render(map: &AddressMap, caption: &str, marks: &[u64]) -> String {
    let bands = || {
        map.layers
            .iter()
            .flat_map(|l| l.implementation.iter().chain(&l.model))
    };
    let low = bands().map(|b| u128::from(b.start)).min().unwrap_or(0);
    let high = bands()
        .map(|b| u128::from(b.last) + 1)
        .max()
        .unwrap_or(u128::MAX);
    let marks: Vec<u64> = marks
        .iter()
        .copied()
        .filter(|&m| (low..=high).contains(&u128::from(m)))
        .take(MAX_MARKS)
        .collect();
    let axis = Axis::of(map, &marks);
    let caption = wrapped(caption);
    let top = 10.0 + CAPTION_LINE * (caption.len() as f64 + 1.0);
    let rows = map.layers.len() as f64 * 2.0;
    let rows_height = rows * ROW_HEIGHT + map.layers.len() as f64 * (LAYER_GAP + HEADING);
    let legend_y = top + rows_height + TICK_ROOM;
    let height = legend_y + 40.0;
    let width = LABEL_WIDTH + PLOT_WIDTH + RIGHT_MARGIN;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="monospace" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (i, line) in caption.iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"<text x="10" y="{:.1}">{}</text>"#,
            22.0 + CAPTION_LINE * i as f64,
            xml(line)
        );
    }
    let mut y = top;
    for layer in &map.layers {
        let _ = writeln!(
            svg,
            r#"<text x="10" y="{:.1}" font-weight="bold">{}</text>"#,
            y + HEADING - 4.0,
            xml(&layer.name)
        );
        y += HEADING;
        let (only_impl, only_model) = layer.disagreements();
        for (side, bands, odd) in [
            ("implementation", &layer.implementation, &only_impl),
            ("model", &layer.model, &only_model),
        ] {
            row(&mut svg, &axis, y, side, bands, odd);
            y += ROW_HEIGHT;
        }
        y += LAYER_GAP;
    }
    let bottom = y;
    ticks(&mut svg, &axis, bottom);
    for &m in &marks {
        let x = axis.x(u128::from(m));
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="red" stroke-width="1.5" stroke-dasharray="4 2"><title>{m:#x}</title></line>"#,
            top - 6.0
        );
    }
    legend(&mut svg, legend_y);
    svg.push_str("</svg>\n");
    svg
}

/// One row: its label, a faint baseline, and its bands (those in `odd` outlined in red).
fn row(svg: &mut String, axis: &Axis, y: f64, label: &str, bands: &[Band], odd: &BTreeSet<Band>) {
    let shown = bands.len().min(MAX_BANDS_PER_ROW);
    let label = if shown < bands.len() {
        format!("{label} [{shown} of {}]", bands.len())
    } else {
        label.to_string()
    };
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
        LABEL_WIDTH - 6.0,
        y + ROW_HEIGHT * 0.65,
        xml(&label)
    );
    let _ = writeln!(
        svg,
        r##"<line x1="{LABEL_WIDTH:.1}" y1="{mid:.1}" x2="{:.1}" y2="{mid:.1}" stroke="#eeeeee"/>"##,
        LABEL_WIDTH + PLOT_WIDTH,
        mid = y + ROW_HEIGHT / 2.0
    );
    // Odd bands last, so their outline is not covered by a neighbour's fill.
    let mut order: Vec<&Band> = bands.iter().take(MAX_BANDS_PER_ROW).collect();
    order.sort_by_key(|b| odd.contains(b));
    for b in order {
        let x0 = axis.x(u128::from(b.start));
        let x1 = axis.x(u128::from(b.last) + 1).max(x0 + 1.0);
        let (stroke, sw) = if odd.contains(b) {
            ("red", 2.0)
        } else {
            ("#555555", 0.5)
        };
        let _ = writeln!(
            svg,
            r#"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" stroke="{stroke}" stroke-width="{sw}"><title>{} [{:#x}, {:#x}]</title></rect>"#,
            y + 3.0,
            x1 - x0,
            ROW_HEIGHT - 6.0,
            b.shade.fill(),
            b.shade.name(),
            b.start,
            b.last
        );
    }
}

/// Tick labels at the cuts, under the rows, as many as fit [`TICK_SPACING`] apart.
fn ticks(svg: &mut String, axis: &Axis, y: f64) {
    let mut last_x = f64::NEG_INFINITY;
    for (&cut, &x) in axis.cuts.iter().zip(&axis.xs) {
        if x - last_x < TICK_SPACING {
            continue;
        }
        last_x = x;
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{y:.1}" x2="{x:.1}" y2="{:.1}" stroke="#999999"/><text transform="translate({:.1},{:.1}) rotate(60)">{cut:#x}</text>"##,
            y + 5.0,
            x - 3.0,
            y + 10.0
        );
    }
}

/// The legend: a swatch and name per shade, and the red outline's meaning.
fn legend(svg: &mut String, y: f64) {
    let mut x = 10.0;
    for s in Shade::ALL {
        let _ = writeln!(
            svg,
            r##"<rect x="{x:.1}" y="{y:.1}" width="14" height="12" fill="{}" stroke="#555555" stroke-width="0.5"/><text x="{:.1}" y="{:.1}">{}</text>"##,
            s.fill(),
            x + 18.0,
            y + 10.0,
            s.name()
        );
        x += 30.0 + 7.0 * s.name().len() as f64;
    }
    let _ = writeln!(
        svg,
        r#"<rect x="{x:.1}" y="{y:.1}" width="14" height="12" fill="none" stroke="red" stroke-width="2"/><text x="{:.1}" y="{:.1}">only on one side</text>"#,
        x + 18.0,
        y + 10.0
    );
}

thread_local! {
    /// While [`capture`] runs: `Some(None)` until the driver stores the machine's map,
    /// then `Some(Some(map))`. `None`: no capture (the default).
    static CAPTURED: RefCell<Option<Option<AddressMap>>> = const { RefCell::new(None) };
}

/// Whether the scenario running on this thread is being captured (read by the driver).
pub(crate) fn wanted() -> bool {
    CAPTURED.with(|c| matches!(*c.borrow(), Some(None)))
}

/// Stores the map of the machine the driver is running (first store wins).
pub(crate) fn store(map: AddressMap) {
    CAPTURED.with(|c| {
        let mut c = c.borrow_mut();
        if matches!(*c, Some(None)) {
            *c = Some(Some(map));
        }
    });
}

/// Switches capture on for the life of a [`capture`] and off again when it ends, even by a
/// panic.
struct CaptureScope(Option<Option<AddressMap>>);

impl CaptureScope {
    fn start() -> CaptureScope {
        CaptureScope(CAPTURED.with(|c| c.replace(Some(None))))
    }

    fn take(&self) -> Option<AddressMap> {
        CAPTURED.with(|c| c.borrow_mut().as_mut().and_then(Option::take))
    }
}

impl Drop for CaptureScope {
    fn drop(&mut self) {
        let outer = self.0.take();
        CAPTURED.with(|c| *c.borrow_mut() = outer);
    }
}

/// Runs `data` as a `target` scenario with `bugs` switched on and map capture on: its trace,
/// its verdict, and the machine's map at the first failing check (or after the last op);
/// `None` when no machine was built (a finding while decoding or setting up) or drawing it
/// failed.
pub fn capture(
    target: &dyn AnyTarget,
    data: &[u8],
    bugs: BugSet,
) -> (String, Result<Stats, Finding>, Option<AddressMap>) {
    let scope = CaptureScope::start();
    let (version, payload) = unframe(target, data);
    let mut trace = String::new();
    let verdict = target.execute(version, payload, bugs, Some(&mut trace));
    let map = scope.take();
    (trace, verdict, map)
}

/// Words after which a number in a finding's text is not an address.
const NOT_ADDRESS_WORDS: [&str; 13] = [
    "size", "align", "phase", "nocross", "count", "len", "length", "pages", "bytes", "quantum",
    "order", "items", "offset",
];

/// The addresses a finding names: hexadecimal numbers in the op's resolved arguments and in
/// both claims (an oracle verdict) or both sides (a state difference), except those after a
/// word that says they are a size or an alignment (`NOT_ADDRESS_WORDS`).
pub fn named_addresses(finding: &Finding) -> Vec<u64> {
    let texts: Vec<&str> = match &finding.kind {
        FindingKind::Oracle(m) => vec![&m.args, &m.expected.text, &m.actual.text],
        FindingKind::State(d) => vec![&d.implementation, &d.model],
        _ => Vec::new(),
    };
    let mut out: Vec<u64> = Vec::new();
    for text in texts {
        let mut previous = "";
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.is_empty() {
                continue;
            }
            if let Some(hex) = word.strip_prefix("0x") {
                let after_size = NOT_ADDRESS_WORDS.contains(&previous);
                if let (false, Ok(a)) = (after_size, u64::from_str_radix(hex, 16)) {
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
            }
            previous = word;
        }
    }
    out.truncate(MAX_MARKS);
    out
}

/// The SVG picture of `data` as a `target` scenario (see [`capture`] and [`render`]): the
/// verdict and the picture, captioned with the scenario's header, the failing op and the
/// finding (or the end state when it passes); `None` for the picture when there is no map.
pub fn svg(
    target: &dyn AnyTarget,
    data: &[u8],
    bugs: BugSet,
) -> (Result<Stats, Finding>, Option<String>) {
    let (trace, verdict, map) = capture(target, data, bugs);
    let header = trace.lines().next().unwrap_or_default().to_string();
    let picture = map.map(|map| {
        let (caption, marks) = match &verdict {
            Err(f) => (
                format!("{} {header}\n{f}", target.name()),
                named_addresses(f),
            ),
            Ok(stats) => (
                format!(
                    "{} {header}\nno finding: the state after the last of {} ops",
                    target.name(),
                    stats.ops
                ),
                Vec::new(),
            ),
        };
        render(&map, &caption, &marks)
    });
    (verdict, picture)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band(start: u64, last: u64, shade: Shade) -> Option<Band> {
        Band::new(start, last, shade)
    }

    /// Ranges on one side only are found, and only those.
    #[test]
    fn disagreements_are_the_ranges_one_side_lacks() {
        let l = Layer::new(
            "arena allocations",
            [
                band(0, 0xfff, Shade::Live),
                band(0x2000, 0x2fff, Shade::Live),
            ],
            [
                band(0, 0xfff, Shade::Live),
                band(0x2000, 0x3fff, Shade::Live),
            ],
        );
        let (a, b) = l.disagreements();
        assert_eq!(
            a.into_iter().collect::<Vec<_>>(),
            vec![Band {
                start: 0x2000,
                last: 0x2fff,
                shade: Shade::Live
            }]
        );
        assert_eq!(b.len(), 1);
        assert!(AddressMap::new(vec![l]).disagrees());
    }

    /// Bands that cannot be drawn are refused, ranges to the very top are drawn.
    #[test]
    fn bands_refuse_empty_and_wrapping_ranges() {
        assert_eq!(Band::sized(0x1000, 0, Shade::Live), None);
        assert_eq!(Band::sized(u64::MAX, 2, Shade::Live), None);
        assert_eq!(Band::new(5, 4, Shade::Live), None);
        let top = Band::sized(u64::MAX - 0xfff, 0x1000, Shade::Span).unwrap();
        assert_eq!(top.last, u64::MAX);
        let svg = render(
            &AddressMap::new(vec![Layer::new("s", [Some(top)], [])]),
            "x",
            &[],
        );
        assert!(
            svg.contains("[0xfffffffffffff000, 0xffffffffffffffff]"),
            "{svg}"
        );
    }

    /// The picture is well-formed enough to check by hand: one box per band, the
    /// disagreeing ones outlined in red, the caption escaped, marks drawn, axis order kept.
    #[test]
    fn the_picture_has_a_box_per_band_and_red_outlines_where_sides_differ() {
        let map = AddressMap::new(vec![
            Layer::new(
                "arena spans",
                [band(0x1000, 0xffff, Shade::Span)],
                [band(0x1000, 0xffff, Shade::Span)],
            ),
            Layer::new(
                "arena allocations",
                [
                    band(0x1000, 0x1fff, Shade::Live),
                    band(0x8000, 0x8fff, Shade::Live),
                ],
                [band(0x1000, 0x1fff, Shade::Live)],
            ),
        ]);
        let svg = render(&map, "alloc <size 0x1000> & more", &[0x8000]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<title>live [").count(), 3);
        assert_eq!(
            svg.matches(r#"stroke="red" stroke-width="2""#).count(),
            2,
            "{svg}"
        );
        assert!(svg.contains("alloc &lt;size 0x1000&gt; &amp; more"));
        assert!(svg.contains("<title>0x8000</title>"));
        let x_of = |a: &str| {
            let at = svg.find(&format!("[{a}, ")).unwrap();
            let rect = svg[..at].rfind("<rect x=\"").unwrap();
            let num = &svg[rect + 9..];
            num[..num.find('"').unwrap()].parse::<f64>().unwrap()
        };
        assert!(x_of("0x1000") < x_of("0x8000"));
    }

    /// A tiny piece between two huge gaps still gets a visible width.
    #[test]
    fn the_axis_keeps_small_pieces_visible() {
        let map = AddressMap::new(vec![Layer::new(
            "s",
            [
                band(0, 0xffff_ffff_ffff, Shade::Span),
                band(0x1_0000_0000_0000, 0x1_0000_0000_0000, Shade::Live),
                band(0x1_0000_0000_0001, u64::MAX, Shade::Span),
            ],
            [],
        )]);
        let axis = Axis::of(&map, &[]);
        let one = axis.x(0x1_0000_0000_0001) - axis.x(0x1_0000_0000_0000);
        assert!(one > 30.0, "{one}");
    }

    /// Free bands are the holes between ranges, within the bounds, to the very top.
    #[test]
    fn free_between_finds_the_holes() {
        let f = |v: Vec<Option<Band>>| -> Vec<(u64, u64)> {
            v.into_iter().flatten().map(|b| (b.start, b.last)).collect()
        };
        assert_eq!(
            f(free_between(0, u64::MAX, &[(0x10, 0x1f), (0x30, 0x3f)])),
            vec![(0, 0xf), (0x20, 0x2f), (0x40, u64::MAX)]
        );
        assert_eq!(f(free_between(0x10, 0x3f, &[(0x10, 0x3f)])), vec![]);
        assert_eq!(
            f(free_between(0, 0x1f, &[(0x10, u64::MAX)])),
            vec![(0, 0xf)]
        );
    }

    /// Captions wrap at spaces, and a word longer than a line is cut.
    #[test]
    fn captions_wrap_at_spaces() {
        let long = "a ".repeat(100);
        let lines = wrapped(&long);
        assert!(lines.iter().all(|l| l.chars().count() <= CAPTION_COLUMNS));
        assert_eq!(lines.concat().matches('a').count(), 100);
        let word = "x".repeat(CAPTION_COLUMNS + 5);
        assert_eq!(
            wrapped(&format!("go {word}")),
            vec![
                "go".to_string(),
                "x".repeat(CAPTION_COLUMNS),
                "xxxxx".to_string()
            ]
        );
    }

    /// Touching ranges merge into one run, a gap of one byte keeps them apart.
    #[test]
    fn merged_runs_join_touching_ranges_only() {
        let runs = merged_runs(
            [(0, 0xfff), (0x1000, 0x1fff), (0x3000, u64::MAX)],
            Shade::Mapped,
        );
        let spans: Vec<(u64, u64)> = runs.iter().map(|b| (b.start, b.last)).collect();
        assert_eq!(spans, vec![(0, 0x1fff), (0x3000, u64::MAX)]);
    }

    /// Sizes and alignments are not marked as addresses.
    #[test]
    fn named_addresses_skip_sizes() {
        use super::super::{Claim, Mismatch};
        let f = Finding {
            target: "vmem",
            op_index: Some(3),
            op: "alloc".into(),
            kind: FindingKind::Oracle(Mismatch::new(
                "alloc arena",
                "size 0x2000 align 0x1000 minaddr 0x4000",
                Claim::new("Ok", "Ok(0x6000)"),
                Claim::new("Ok", "Ok(0x5000)"),
            )),
        };
        assert_eq!(named_addresses(&f), vec![0x4000, 0x6000, 0x5000]);
    }
}
