//! The plan as text: the table `prune` prints (by family then newest
//! first, 120 columns unless `--wide`, deletions only with
//! `--only-deletions`), its header line and summary. The apply order of
//! `Plan::items` is not touched: only the view is sorted.

use std::fmt;

use chrono::{DateTime, Utc};

use super::{Action, Plan, PlanItem, TIME_FORMAT};

/// How the plan table is shown: all columns at full width (`--wide`), or
/// the columns that matter clipped to [`NARROW`] columns; every item or the
/// deletions only (`--only-deletions`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableView {
    pub wide: bool,
    pub only_deletions: bool,
}

/// The width the default table fits in.
pub const NARROW: usize = 120;

impl Plan {
    /// The items as the table shows them: by family, newest first, then kind,
    /// region, id (the apply order, `items`, is unchanged).
    pub fn display_order(&self, view: TableView) -> Vec<&PlanItem> {
        let mut rows: Vec<&PlanItem> = self
            .items
            .iter()
            .filter(|i| !view.only_deletions || i.action == Action::Delete)
            .collect();
        rows.sort_by(|a, b| {
            a.family
                .cmp(&b.family)
                .then_with(|| b.created.cmp(&a.created))
                .then_with(|| (a.kind, &a.region, &a.id).cmp(&(b.kind, &b.region, &b.id)))
        });
        rows
    }

    /// The plan as text: a header line, the table, the summary.
    pub fn render(&self, view: TableView) -> String {
        let dash = || "-".to_string();
        let day = |t: Option<DateTime<Utc>>, fmt: &str| {
            t.map_or_else(dash, |t| t.format(fmt).to_string())
        };
        let rows = self.display_order(view);
        let mut out = format!(
            "prune plan at {} UTC (keeping the {} newest build(s) of each family)\n",
            self.generated_at.format(TIME_FORMAT),
            self.rules.keep
        );
        if view.wide {
            let header = [
                "ACTION",
                "KIND",
                "REGION",
                "ID",
                "NAME",
                "FAMILY",
                "CREATED",
                "GIB",
                "EXPIRES",
                "RECOVERABLE UNTIL",
                "REASON",
            ];
            let cells = rows.iter().map(|i| {
                vec![
                    i.action.to_string(),
                    i.kind.to_string(),
                    i.region.to_string(),
                    i.id.to_string(),
                    i.name.as_deref().map_or_else(dash, str::to_string),
                    i.family.as_deref().map_or_else(dash, str::to_string),
                    day(i.created, TIME_FORMAT),
                    i.size_gib.map_or_else(dash, |g| g.to_string()),
                    day(i.expires_at, TIME_FORMAT),
                    day(i.recoverable_until, TIME_FORMAT),
                    i.reason.to_string(),
                ]
            });
            out.push_str(&crate::table::render(&header, cells));
        } else {
            let header = [
                "ACTION", "ID", "REGION", "FAMILY", "NAME", "CREATED", "REASON",
            ];
            let mut cells: Vec<Vec<String>> = rows
                .iter()
                .map(|i| {
                    vec![
                        i.action.to_string(),
                        i.id.to_string(),
                        i.region.to_string(),
                        i.family.as_deref().map_or_else(dash, str::to_string),
                        i.name.as_deref().map_or_else(dash, str::to_string),
                        day(i.created, "%Y-%m-%d"),
                        i.reason.to_string(),
                    ]
                })
                .collect();
            // NAME and FAMILY give way first (to 16), then REASON, then all
            // three down to 8, until a row fits
            clip_to(
                &header,
                &mut cells,
                &[(&[3, 4], 16), (&[6], 24), (&[3, 4, 6], 8)],
                NARROW,
            );
            out.push_str(&crate::table::render(&header, cells));
        }
        out.push_str(&self.summary.to_string());
        let deletions = self.deletions().count();
        let recoverable: Vec<DateTime<Utc>> = self
            .deletions()
            .filter_map(|i| i.recoverable_until)
            .collect();
        if let Some(first) = recoverable.iter().min() {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!(
                "recoverable from the Recycle Bin (prune undo): {} of {deletions} deletion(s), the first until {} UTC\n",
                recoverable.len(),
                first.format(TIME_FORMAT)
            ));
        }
        out
    }
}

/// Shorten the cells of clippable columns (an ellipsis marks a cut) until
/// the table is at most `width` wide: stage by stage, each stage's columns
/// the widest first, none below the stage's floor.
fn clip_to(header: &[&str], rows: &mut [Vec<String>], stages: &[(&[usize], usize)], width: usize) {
    let len = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = header.iter().map(|h| len(h)).collect();
    for row in rows.iter() {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(len(c));
        }
    }
    let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
    for &(cols, floor) in stages {
        while total(&widths) > width {
            let Some(&col) = cols
                .iter()
                .filter(|&&c| widths[c] > floor)
                .max_by_key(|&&c| widths[c])
            else {
                break;
            };
            widths[col] -= 1;
        }
    }
    let clippable: std::collections::BTreeSet<usize> = stages
        .iter()
        .flat_map(|(cols, _)| cols.iter().copied())
        .collect();
    for row in rows.iter_mut() {
        for &c in &clippable {
            if len(&row[c]) > widths[c] {
                let cut: String = row[c].chars().take(widths[c].saturating_sub(1)).collect();
                row[c] = cut + "…";
            }
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(TableView::default()))
    }
}
