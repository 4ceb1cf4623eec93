//! Markdown (CommonMark with `~~strike~~`), as Beeper's dialect takes `text`, rewritten in
//! WhatsApp's own formatting: `**bold**` → `*bold*`, `*italic*` → `_italic_`, `~~strike~~` →
//! `~strike~`, code spans and blocks in backticks; headings become bold lines, links `text (url)`,
//! lists and quotes keep WhatsApp's `- `, `1. ` and `> `. Escaped characters come out literally.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// `markdown` in WhatsApp's formatting; plain text comes back as it was, trimmed.
pub fn to_whatsapp(markdown: &str) -> String {
    let mut writer = Writer::default();
    for event in Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH) {
        writer.event(event);
    }
    writer.out
}

/// Builds the output; line breaks are owed (`pending`) and written only before more text, so
/// nothing trails, and each new line starts with the quote and list indentation it is in.
#[derive(Default)]
struct Writer {
    out: String,
    pending: usize,
    quote_depth: usize,
    /// Each open list: the next number of an ordered one, `None` for bullets.
    lists: Vec<Option<u64>>,
    /// The open links' and images' targets, written after their text.
    links: Vec<String>,
    /// Where each open link's text starts in `out`, to tell an autolink (text = target).
    link_starts: Vec<usize>,
    in_code_block: bool,
}

impl Writer {
    fn event(&mut self, event: Event) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) if self.in_code_block => self.code_text(&text),
            Event::Text(text) | Event::Html(text) | Event::InlineHtml(text) => self.text(&text),
            Event::InlineMath(text) | Event::DisplayMath(text) => self.text(&text),
            Event::Code(code) => {
                self.text("`");
                self.out.push_str(&code);
                self.out.push('`');
            }
            Event::SoftBreak | Event::HardBreak => self.owe(1),
            Event::Rule => {
                self.block();
                self.text("---");
                self.block();
            }
            Event::FootnoteReference(name) => self.text(&format!("[{name}]")),
            Event::TaskListMarker(done) => self.text(if done { "[x] " } else { "[ ] " }),
        }
    }

    fn start(&mut self, tag: Tag) {
        match tag {
            Tag::Paragraph | Tag::HtmlBlock | Tag::MetadataBlock(_) => self.block(),
            Tag::Heading { level, .. } => {
                self.block();
                // A heading is a bold line; the lower levels stay plain text to keep the emphasis meaningful.
                if level <= HeadingLevel::H3 {
                    self.text("*");
                }
            }
            Tag::BlockQuote(_) => {
                self.block();
                self.quote_depth += 1;
            }
            Tag::CodeBlock(kind) => {
                self.block();
                self.text("```");
                self.in_code_block = true;
                if let CodeBlockKind::Fenced(_) = kind {
                    // The info string (a language name) has no place in WhatsApp.
                }
            }
            Tag::List(first) => {
                if self.lists.is_empty() {
                    self.block();
                }
                self.lists.push(first);
            }
            Tag::Item => {
                self.owe(1);
                let depth = self.lists.len().saturating_sub(1);
                let marker = match self.lists.last_mut() {
                    Some(Some(number)) => {
                        let marker = format!("{number}. ");
                        *number += 1;
                        marker
                    }
                    _ => "- ".to_string(),
                };
                self.text(&format!("{}{marker}", "  ".repeat(depth)));
            }
            Tag::Emphasis => self.text("_"),
            Tag::Strong => self.text("*"),
            Tag::Strikethrough => self.text("~"),
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                self.flush();
                self.links.push(dest_url.to_string());
                self.link_starts.push(self.out.len());
            }
            Tag::FootnoteDefinition(name) => {
                self.block();
                self.text(&format!("[{name}]: "));
            }
            Tag::Superscript
            | Tag::Subscript
            | Tag::Table(_)
            | Tag::TableHead
            | Tag::TableRow
            | Tag::TableCell
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph | TagEnd::HtmlBlock | TagEnd::MetadataBlock(_) | TagEnd::FootnoteDefinition => {
                self.block()
            }
            TagEnd::Heading(level) => {
                if level <= HeadingLevel::H3 {
                    self.out.push('*');
                }
                self.block();
            }
            TagEnd::BlockQuote(_) => {
                self.quote_depth = self.quote_depth.saturating_sub(1);
                self.block();
            }
            TagEnd::CodeBlock => {
                self.in_code_block = false;
                while self.out.ends_with('\n') {
                    self.out.pop();
                }
                self.out.push_str("```");
                self.block();
            }
            TagEnd::List(_) => {
                self.lists.pop();
                if self.lists.is_empty() {
                    self.block();
                }
            }
            TagEnd::Item => self.owe(1),
            TagEnd::Emphasis => self.out.push('_'),
            TagEnd::Strong => self.out.push('*'),
            TagEnd::Strikethrough => self.out.push('~'),
            TagEnd::Link | TagEnd::Image => {
                let (Some(target), Some(start)) = (self.links.pop(), self.link_starts.pop()) else { return };
                // An autolink's text is its target already; `mailto:` stays implied like in the source.
                let shown = &self.out[start..];
                if shown != target && target.strip_prefix("mailto:") != Some(shown) && !target.is_empty() {
                    self.out.push_str(&format!(" ({target})"));
                }
            }
            TagEnd::Superscript
            | TagEnd::Subscript
            | TagEnd::Table
            | TagEnd::TableHead
            | TagEnd::TableRow
            | TagEnd::TableCell
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition => {}
        }
    }

    /// A block boundary: a blank line before what follows, a single line break inside a list.
    fn block(&mut self) {
        self.owe(if self.lists.is_empty() { 2 } else { 1 });
    }

    fn owe(&mut self, newlines: usize) {
        self.pending = self.pending.max(newlines);
    }

    /// Writes the line breaks owed, each new line starting inside its quotes.
    fn flush(&mut self) {
        if self.out.is_empty() {
            self.pending = 0;
        }
        for _ in 0..std::mem::take(&mut self.pending) {
            self.out.push('\n');
            self.out.push_str(&"> ".repeat(self.quote_depth));
        }
        if self.out.is_empty() && self.quote_depth > 0 {
            self.out.push_str(&"> ".repeat(self.quote_depth));
        }
    }

    fn text(&mut self, text: &str) {
        self.flush();
        self.out.push_str(text);
    }

    /// A code block's lines, quoted when the block is.
    fn code_text(&mut self, text: &str) {
        self.flush();
        let prefix = "> ".repeat(self.quote_depth);
        for (i, line) in text.split_inclusive('\n').enumerate() {
            if i > 0 {
                self.out.push_str(&prefix);
            }
            self.out.push_str(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_whatsapp_formatting() {
        let cases = [
            // The issue's forms.
            ("**bold**", "*bold*"),
            ("__bold__", "*bold*"),
            ("_italic_", "_italic_"),
            ("*italic*", "_italic_"),
            ("~~strike~~", "~strike~"),
            ("~strike~", "~strike~"),
            // Code spans keep their content as written.
            ("`code`", "`code`"),
            ("run `**not bold**` now", "run `**not bold**` now"),
            ("``a ` b``", "`a ` b`"),
            // Nesting.
            ("**bold _and italic_**", "*bold _and italic_*"),
            ("_italic **and bold**_", "_italic *and bold*_"),
            ("***both***", "_*both*_"),
            ("~~**gone**~~", "~*gone*~"),
            ("**a `b` c**", "*a `b` c*"),
            // Escapes come out literally.
            (r"\*not italic\*", "*not italic*"),
            (r"snake\_case", "snake_case"),
            (r"1\. not a list", "1. not a list"),
            (r"a \\ b", r"a \ b"),
            (r"\`not code\`", "`not code`"),
            // Plain text stays as it was.
            ("Hello World", "Hello World"),
            ("2 * 3 = 6, 4 * 5 = 20", "2 * 3 = 6, 4 * 5 = 20"),
            ("snake_case_name", "snake_case_name"),
            ("  trimmed  ", "trimmed"),
            ("", ""),
            // Lines and blocks.
            ("one\ntwo", "one\ntwo"),
            ("one  \ntwo", "one\ntwo"),
            ("para one\n\n\n\npara two", "para one\n\npara two"),
            ("- a\n- b", "- a\n- b"),
            ("* a\n* b", "- a\n- b"),
            ("1. a\n2. b", "1. a\n2. b"),
            ("3. c\n4. d", "3. c\n4. d"),
            ("- a\n  - b\n- c", "- a\n  - b\n- c"),
            ("intro\n\n- a\n- b\n\nafter", "intro\n\n- a\n- b\n\nafter"),
            ("> quoted", "> quoted"),
            ("> one\n> two", "> one\n> two"),
            ("> **bold** quote\n\nnext", "> *bold* quote\n\nnext"),
            ("# Title\nbody", "*Title*\n\nbody"),
            ("#### Small", "Small"),
            ("```\nfn main() {}\n```", "```fn main() {}```"),
            ("```rust\nlet a = 1;\nlet b = **2**;\n```", "```let a = 1;\nlet b = **2**;```"),
            // Links show their target.
            ("[Outbox](https://example.com/docs)", "Outbox (https://example.com/docs)"),
            ("<https://example.com>", "https://example.com"),
            ("https://example.com/a_b_c", "https://example.com/a_b_c"),
            ("![a cat](https://example.com/cat.png)", "a cat (https://example.com/cat.png)"),
            ("---", "---"),
        ];
        for (markdown, whatsapp) in cases {
            assert_eq!(to_whatsapp(markdown), whatsapp, "{markdown:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_converts_without_panicking(text in "\\PC{0,300}") {
            let _ = to_whatsapp(&text);
        }

        #[test]
        fn words_without_markdown_come_back_unchanged(text in "[a-zA-Z,!?]{1,10}( [a-zA-Z,!?]{1,10}){0,8}") {
            proptest::prop_assert_eq!(to_whatsapp(&text), text);
        }
    }
}
