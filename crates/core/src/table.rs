//! Plain text tables, the one shape every table ami-builder prints has:
//! a header line, one line a row, columns two spaces apart, no borders and
//! no trailing spaces (so `grep`, `awk` and CodeBuild logs read it as
//! well as a person does). Layout is comfy-table's; this module only fixes
//! the style, so every command's tables look alike.

use comfy_table::{presets, Table};

/// Render `rows` under `header`. Cells hold no newlines (a reason or a
/// tag value with one would break the one-line-a-row promise), so any
/// newline is shown as `\n`.
pub fn render<R, C>(header: &[&str], rows: R) -> String
where
    R: IntoIterator<Item = Vec<C>>,
    C: AsRef<str>,
{
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    t.set_header(header.iter().copied());
    for row in rows {
        t.add_row(
            row.iter()
                .map(|c| c.as_ref().replace('\r', "\\r").replace('\n', "\\n")),
        );
    }
    let last = header.len().saturating_sub(1);
    for (i, col) in t.column_iter_mut().enumerate() {
        col.set_padding((0, if i == last { 0 } else { 2 }));
    }
    let mut out: String = t.lines().map(|l| l.trim_end().to_string() + "\n").collect();
    if out.is_empty() {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_two_spaces_apart_without_trailing_space() {
        let t = render(
            &["ID", "REGION", "WHY"],
            vec![
                vec!["ami-1", "us-east-1", "newest"],
                vec!["ami-22222222", "eu-west-1", ""],
            ],
        );
        assert_eq!(
            t,
            "ID            REGION     WHY\n\
             ami-1         us-east-1  newest\n\
             ami-22222222  eu-west-1\n"
        );
    }

    #[test]
    fn a_cell_cannot_add_a_line() {
        let t = render(&["A", "B"], vec![vec!["x\ny", "z"]]);
        assert_eq!(t.lines().count(), 2, "{t}");
        assert!(t.contains("x\\ny"), "{t}");
    }
}
