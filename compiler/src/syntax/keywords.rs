//! Every keyword is spelled once, in the grammar: `kw_rate_limit = @{
//! "rate_limit" ~ !ident_char }`. The rest of the compiler names a keyword
//! by its rule (`Rule::kw_rate_limit`) and asks this module how it is
//! spelled, so the parser's messages, the formatter, the checker and the
//! "did you mean" lists cannot drift from what the parser accepts. A test
//! holds that each rule's name is its spelling.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::Rule;

/// The spelling of every `kw_*` rule, read once from the rule names.
static SPELLINGS: LazyLock<HashMap<Rule, String>> = LazyLock::new(|| {
    Rule::all_rules()
        .iter()
        .filter_map(|&rule| {
            let name = format!("{rule:?}");
            name.strip_prefix("kw_").map(|word| (rule, word.to_string()))
        })
        .collect()
});

/// How keyword `rule` is written (`Rule::kw_rate_limit` -> `rate_limit`);
/// `None` for a rule that is not a keyword.
pub fn spelling_of(rule: Rule) -> Option<&'static str> {
    SPELLINGS.get(&rule).map(String::as_str)
}

/// How keyword `rule` is written. Every caller names a `kw_*` rule; a
/// rule that is not one is spelled as its name, which a test would catch.
pub fn spelling(rule: Rule) -> &'static str {
    spelling_of(rule).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use pest::Parser as _;

    use super::*;
    use crate::syntax::ZenParser;

    /// The grammar accepts each keyword rule's spelling, whole, and
    /// nothing longer: the rule's name and its literal agree.
    #[test]
    fn each_keyword_rule_accepts_its_spelling() {
        assert!(SPELLINGS.len() > 80, "the grammar's keywords were not found");
        for (&rule, word) in SPELLINGS.iter() {
            let parsed =
                ZenParser::parse(rule, word).unwrap_or_else(|e| panic!("{rule:?} does not accept `{word}`: {e}"));
            let consumed: usize = parsed.map(|p| p.as_str().len()).sum();
            assert_eq!(consumed, word.len(), "{rule:?} reads `{word}` only in part");
            assert!(
                ZenParser::parse(rule, &format!("{word}x")).is_err(),
                "{rule:?} accepts a longer word than `{word}`"
            );
        }
    }
}
