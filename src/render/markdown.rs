//! Markdown for a terminal, for `acme-doctor explain CODE` (issue 21 item 4): headings in
//! bold, inline code without its backticks, lists with hanging indents, code blocks indented
//! and never wrapped, tables aligned, and paragraphs wrapped to the terminal's width. The
//! CommonMark parsing is pulldown-cmark's; this module only lays its events out. It covers
//! what `checks/*.md` uses (and degrades to plain text for the rest: HTML, links, images).
//! Raw Markdown (a pipe, `--markdown`) never comes through here.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// How the terminal takes the text.
#[derive(Debug, Clone, Copy)]
pub struct Terminal {
    /// Columns to wrap to (clamped to a readable 20 to 100).
    pub width: usize,
    /// ANSI bold, italics and colour (off under `NO_COLOR`).
    pub styled: bool,
    /// A UTF-8 locale: `•` bullets and `─` rules, else `-`.
    pub unicode: bool,
}

/// The text as a terminal shows it: no line ends in a space.
pub fn render(markdown: &str, term: Terminal) -> String {
    let mut r = Renderer::new(term);
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        r.event(event);
    }
    r.flush_inline();
    let mut text = String::new();
    for line in &r.out {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Style {
    bold: bool,
    emphasis: bool,
    code: bool,
    heading: bool,
}

impl Style {
    /// The ANSI sequence that starts this style, empty for plain text.
    fn ansi(self) -> String {
        let mut codes = Vec::new();
        if self.bold || self.heading {
            codes.push("1");
        }
        if self.emphasis {
            codes.push("3");
        }
        if self.code {
            codes.push("36");
        }
        if codes.is_empty() {
            String::new()
        } else {
            format!("\x1b[{}m", codes.join(";"))
        }
    }
}

/// Text of one style inside a word.
type Piece = (String, Style);
/// Pieces with no space between them: never broken across lines.
type Word = Vec<Piece>;

/// The inline content of one block: its lines (split at hard breaks), each a list of words.
#[derive(Debug, Default)]
struct Inline {
    lines: Vec<Vec<Word>>,
    /// A space was met: the next character starts a new word.
    space: bool,
}

impl Inline {
    fn is_empty(&self) -> bool {
        self.lines.iter().all(Vec::is_empty)
    }

    fn push(&mut self, text: &str, style: Style) {
        for c in text.chars() {
            if c.is_whitespace() {
                self.space = true;
                continue;
            }
            if self.lines.is_empty() {
                self.lines.push(Vec::new());
            }
            let starts_word = self.space;
            self.space = false;
            let Some(line) = self.lines.last_mut() else {
                continue;
            };
            match line.last_mut() {
                Some(word) if !starts_word => match word.last_mut() {
                    Some((piece, s)) if *s == style => piece.push(c),
                    _ => word.push((c.to_string(), style)),
                },
                _ => line.push(vec![(c.to_string(), style)]),
            }
        }
    }

    fn hard_break(&mut self) {
        self.lines.push(Vec::new());
        self.space = false;
    }

    fn soft_break(&mut self) {
        self.space = true;
    }
}

fn width_of(word: &Word) -> usize {
    word.iter()
        .map(|(text, _)| console::measure_text_width(text))
        .sum()
}

/// The words of one output line, the space between two words of one style kept inside it,
/// so that `a b c` in code is one run of colour.
fn join(words: Vec<Word>) -> Word {
    fn push(line: &mut Word, text: &str, style: Style) {
        match line.last_mut() {
            Some((run, s)) if *s == style => run.push_str(text),
            _ => line.push((text.to_string(), style)),
        }
    }
    let mut line: Word = Vec::new();
    for word in words {
        if let (Some((_, before)), Some((_, after))) = (line.last(), word.first()) {
            let space = if before == after {
                *before
            } else {
                Style::default()
            };
            push(&mut line, " ", space);
        }
        for (text, style) in word {
            push(&mut line, &text, style);
        }
    }
    line
}

fn paint(word: &Word, styled: bool) -> String {
    let mut out = String::new();
    for (text, style) in word {
        let start = if styled { style.ansi() } else { String::new() };
        if start.is_empty() {
            out.push_str(text);
        } else {
            out.push_str(&start);
            out.push_str(text);
            out.push_str("\x1b[0m");
        }
    }
    out
}

/// A table being read: its rows (the first is the header), each a list of cells.
#[derive(Debug, Default)]
struct Table {
    rows: Vec<Vec<Word>>,
}

struct Renderer {
    term: Terminal,
    out: Vec<String>,
    inline: Inline,
    style: Style,
    /// The next number of each open list, `None` for a bulleted one.
    lists: Vec<Option<u64>>,
    /// The left margin of each open list item (or block quote).
    margins: Vec<usize>,
    /// The marker of a list item whose first line is not written yet.
    marker: Option<String>,
    code: Option<String>,
    table: Option<Table>,
    heading: Option<HeadingLevel>,
    links: Vec<String>,
    /// A blank line goes before the next block.
    blank: bool,
}

impl Renderer {
    fn new(term: Terminal) -> Renderer {
        Renderer {
            term: Terminal {
                width: term.width.clamp(20, 100),
                ..term
            },
            out: Vec::new(),
            inline: Inline::default(),
            style: Style::default(),
            lists: Vec::new(),
            margins: Vec::new(),
            marker: None,
            code: None,
            table: None,
            heading: None,
            links: Vec::new(),
            blank: false,
        }
    }

    fn indent(&self) -> usize {
        self.margins.iter().sum()
    }

    /// Before a block: the blank line that separates it from the one before.
    fn start_block(&mut self) {
        self.flush_inline();
        if self.blank && !self.out.is_empty() {
            self.out.push(String::new());
        }
        self.blank = false;
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => match &mut self.code {
                Some(code) => code.push_str(&text),
                None => self.inline.push(&text, self.style),
            },
            Event::Code(text) => {
                let style = Style {
                    code: true,
                    ..self.style
                };
                self.inline.push(&text, style);
            }
            Event::SoftBreak => self.inline.soft_break(),
            Event::HardBreak => self.inline.hard_break(),
            Event::Rule => {
                self.start_block();
                let rule = if self.term.unicode { "─" } else { "-" };
                self.out
                    .push(rule.repeat(self.term.width.saturating_sub(self.indent())));
                self.blank = true;
            }
            // Not in the catalogue: shown as the text they are.
            Event::Html(text)
            | Event::InlineHtml(text)
            | Event::InlineMath(text)
            | Event::DisplayMath(text)
            | Event::FootnoteReference(text) => self.inline.push(&text, self.style),
            Event::TaskListMarker(done) => {
                self.inline
                    .push(if done { "[x] " } else { "[ ] " }, self.style);
            }
        }
    }

    fn start(&mut self, tag: Tag) {
        match tag {
            Tag::Paragraph | Tag::HtmlBlock => self.start_block(),
            Tag::Heading { level, .. } => {
                self.start_block();
                self.heading = Some(level);
                self.style.heading = true;
            }
            Tag::CodeBlock(_) => {
                self.start_block();
                self.code = Some(String::new());
            }
            Tag::List(first) => {
                if self.lists.is_empty() {
                    self.start_block();
                } else {
                    // The item's own text, before its nested list.
                    self.flush_inline();
                }
                self.lists.push(first);
            }
            Tag::Item => {
                self.flush_inline();
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ if self.term.unicode => "• ".to_string(),
                    _ => "- ".to_string(),
                };
                self.margins.push(console::measure_text_width(&marker));
                self.marker = Some(marker);
            }
            Tag::BlockQuote(_) => {
                self.start_block();
                self.margins.push(2);
            }
            Tag::Table(_) => {
                self.start_block();
                self.table = Some(Table::default());
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(t) = &mut self.table {
                    t.rows.push(Vec::new());
                }
            }
            Tag::Emphasis => self.style.emphasis = true,
            Tag::Strong => self.style.bold = true,
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                self.links.push(dest_url.to_string());
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph | TagEnd::HtmlBlock => {
                self.flush_inline();
                self.blank = true;
            }
            TagEnd::Heading(_) => {
                self.flush_inline();
                self.style.heading = false;
                self.heading = None;
                self.blank = true;
            }
            TagEnd::CodeBlock => {
                let code = self.code.take().unwrap_or_default();
                let pad = " ".repeat(self.indent() + 4);
                let style = Style {
                    code: true,
                    ..Style::default()
                };
                for line in code.lines() {
                    let word: Word = vec![(line.trim_end().to_string(), style)];
                    self.out
                        .push(format!("{pad}{}", paint(&word, self.term.styled)));
                }
                self.blank = true;
            }
            TagEnd::List(_) => {
                self.flush_inline();
                self.lists.pop();
                if self.lists.is_empty() {
                    self.blank = true;
                }
            }
            TagEnd::Item => {
                self.flush_inline();
                self.margins.pop();
                self.marker = None;
            }
            TagEnd::BlockQuote(_) => {
                self.flush_inline();
                self.margins.pop();
                self.blank = true;
            }
            TagEnd::TableCell => {
                let cell = std::mem::take(&mut self.inline);
                let joined = join(cell.lines.into_iter().flatten().collect());
                if let Some(row) = self.table.as_mut().and_then(|t| t.rows.last_mut()) {
                    row.push(joined);
                }
            }
            TagEnd::Table => {
                if let Some(table) = self.table.take() {
                    self.table(&table);
                }
                self.blank = true;
            }
            TagEnd::Emphasis => self.style.emphasis = false,
            TagEnd::Strong => self.style.bold = false,
            TagEnd::Link | TagEnd::Image => {
                if let Some(url) = self.links.pop() {
                    let shown: String = self
                        .inline
                        .lines
                        .last()
                        .and_then(|l| l.last())
                        .map(|w| w.iter().map(|(t, _)| t.as_str()).collect())
                        .unwrap_or_default();
                    if !url.is_empty() && shown != url {
                        self.inline.push(&format!(" ({url})"), Style::default());
                    }
                }
            }
            _ => {}
        }
    }

    /// The inline text gathered so far, wrapped under the current margin (the first line
    /// after a list item's marker).
    fn flush_inline(&mut self) {
        if self.inline.is_empty() {
            self.inline = Inline::default();
            return;
        }
        let inline = std::mem::take(&mut self.inline);
        let indent = self.indent();
        let rest = " ".repeat(indent);
        let mut first = match self.marker.take() {
            Some(marker) => {
                let before = indent.saturating_sub(console::measure_text_width(&marker));
                format!("{}{marker}", " ".repeat(before))
            }
            None => rest.clone(),
        };
        let width = self.term.width;
        let styled = self.term.styled;
        for line in inline.lines.into_iter().filter(|l| !l.is_empty()) {
            let mut prefix = std::mem::replace(&mut first, rest.clone());
            let mut used = console::measure_text_width(&prefix);
            let mut words: Vec<Word> = Vec::new();
            for word in line {
                let w = width_of(&word);
                if !words.is_empty() && used + 1 + w > width {
                    let full = std::mem::take(&mut words);
                    self.out
                        .push(format!("{prefix}{}", paint(&join(full), styled)));
                    prefix = rest.clone();
                    used = indent;
                }
                used += w + usize::from(!words.is_empty());
                words.push(word);
            }
            self.out
                .push(format!("{prefix}{}", paint(&join(words), styled)));
        }
    }

    /// Columns as wide as their widest cell, two spaces apart, a rule under the header.
    fn table(&mut self, table: &Table) {
        let columns = table.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &table.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(width_of(cell));
            }
        }
        let pad = " ".repeat(self.indent());
        for (r, row) in table.rows.iter().enumerate() {
            let mut line = pad.clone();
            for (i, cell) in row.iter().enumerate() {
                let mut cell = cell.clone();
                if r == 0 {
                    for (_, style) in &mut cell {
                        style.bold = true;
                    }
                    cell = join(vec![cell]);
                }
                line.push_str(&paint(&cell, self.term.styled));
                if i + 1 < row.len() {
                    line.push_str(&" ".repeat(widths[i] - width_of(&cell) + 2));
                }
            }
            self.out.push(line);
            if r == 0 {
                let rule = if self.term.unicode { "─" } else { "-" };
                let total = widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1);
                self.out.push(format!("{pad}{}", rule.repeat(total)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Terminal = Terminal {
        width: 40,
        styled: false,
        unicode: true,
    };

    #[test]
    fn headings_code_and_hard_breaks_lose_their_markup() {
        let text = render(
            "# code: title\n\nSeverity: blocker.  \nCA error: `Timeout`\n\n## What it means\n\nUse `dig` **now**.\n",
            PLAIN,
        );
        assert_eq!(
            text,
            "code: title\n\nSeverity: blocker.\nCA error: Timeout\n\nWhat it means\n\nUse dig now.\n"
        );
    }

    #[test]
    fn paragraphs_wrap_to_the_width_and_lists_hang() {
        let text = render(
            "A paragraph that is long enough to need more than one line at forty columns.\n\n- first item, long enough to wrap past the fortieth column\n- second\n  - nested\n\n1. one\n2. two\n",
            PLAIN,
        );
        assert_eq!(
            text,
            "A paragraph that is long enough to need\nmore than one line at forty columns.\n\n\
             • first item, long enough to wrap past\n  the fortieth column\n• second\n  • nested\n\n\
             1. one\n2. two\n"
        );
        for line in text.lines() {
            assert!(console::measure_text_width(line) <= 40, "{line:?}");
        }
    }

    #[test]
    fn code_blocks_are_indented_and_never_wrapped() {
        let long =
            "curl -6 -sv --connect-timeout 10 http://example.com/.well-known/acme-challenge/test";
        let text = render(&format!("Run:\n\n```sh\n{long}   \n```\n\nDone.\n"), PLAIN);
        assert_eq!(text, format!("Run:\n\n    {long}\n\nDone.\n"));
    }

    #[test]
    fn tables_are_aligned_under_a_rule() {
        let text = render(
            "| CA | `--ca` |\n|---|---|\n| Let's Encrypt | `letsencrypt` |\n| Google | `google` |\n",
            Terminal {
                unicode: false,
                ..PLAIN
            },
        );
        assert_eq!(
            text,
            "CA             --ca\n--------------------------\nLet's Encrypt  letsencrypt\nGoogle         google\n"
        );
    }

    #[test]
    fn styles_are_ansi_and_close_before_the_space() {
        let text = render(
            "## Fix\n\nRun `dig` **now**.\n",
            Terminal {
                styled: true,
                ..PLAIN
            },
        );
        assert_eq!(
            text,
            "\x1b[1mFix\x1b[0m\n\nRun \x1b[36mdig\x1b[0m \x1b[1mnow\x1b[0m.\n"
        );
    }

    #[test]
    fn html_like_placeholders_stay_text() {
        let text = render(
            "The name `_acme-challenge.<domain>` and <domain> itself.\n",
            PLAIN,
        );
        assert_eq!(
            text,
            "The name _acme-challenge.<domain> and\n<domain> itself.\n"
        );
    }
}
