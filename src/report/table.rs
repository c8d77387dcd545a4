//! Plain aligned text tables: first column left-aligned, the rest right-aligned.

pub struct Table {
    rows: Vec<Vec<String>>,
    /// Columns aligned left (by index); others align right.
    left: Vec<usize>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            rows: vec![header.iter().map(|s| s.to_string()).collect()],
            left: vec![0],
        }
    }

    pub fn left_align(mut self, col: usize) -> Table {
        self.left.push(col);
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table, fitted to the output's [`width`](super::width).
    pub fn render(&self) -> String {
        self.render_within(super::width())
    }

    /// The table in at most `max` columns where its first column can give up enough.
    pub fn render_within(&self, max: usize) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let width = |c: usize| {
            self.rows
                .iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        };
        let mut widths: Vec<usize> = (0..cols).map(width).collect();
        // Too wide for the output: the first column (names, paths) gives up what is needed,
        // its longer cells cut in their middle (`../work/…/p1/target`), down to 32 characters.
        let total = widths.iter().sum::<usize>() + 2 * cols.saturating_sub(1);
        if cols > 0 && total > max {
            widths[0] = widths[0].saturating_sub(total - max).max(32.min(widths[0]));
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                let cut;
                let cell = if c == 0 && cell.chars().count() > widths[0] {
                    let ch: Vec<char> = cell.chars().collect();
                    let head = (widths[0] - 1) / 2;
                    cut = ch[..head]
                        .iter()
                        .chain(std::iter::once(&'…'))
                        .chain(&ch[ch.len() - (widths[0] - 1 - head)..])
                        .collect::<String>();
                    &cut
                } else {
                    cell
                };
                if c > 0 {
                    line.push_str("  ");
                }
                let pad = widths[c] - cell.chars().count();
                if self.left.contains(&c) {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                } else {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns() {
        let mut t = super::Table::new(&["name", "size"]);
        t.row(vec!["a".into(), "1".into()]);
        t.row(vec!["long".into(), "100".into()]);
        assert_eq!(t.render(), "name  size\na        1\nlong   100\n");
    }

    #[test]
    fn a_first_column_too_wide_is_cut_in_its_middle() {
        let mut t = super::Table::new(&["path", "size"]);
        t.row(vec![format!("a/{}/target", "b".repeat(120)), "1 B".into()]);
        let out = t.render_within(80);
        let row = out.lines().nth(1).unwrap();
        assert_eq!(row.chars().count(), 80, "{out}");
        assert!(row.starts_with("a/bbb") && row.contains('…') && row.ends_with("/target   1 B"));
    }
}
