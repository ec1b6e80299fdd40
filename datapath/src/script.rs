//! Words that go into the scripts real mode writes (`ip -batch`, `nft -f`)
//! and the commands it prints for a person to paste into a shell.
//!
//! Names come from YAML (devices, interfaces, Kubernetes objects) and the
//! topology loader already refuses any that would need quoting
//! (`sim_core::topology::names`). These checks are the second line: an
//! `ip -batch` line whose words could be read as something else is refused
//! before it runs, text inside an nftables string keeps only characters
//! that cannot end it, and shell hints are quoted.

/// Why one line of `ip -batch` input is unsafe, or None. `ip` splits a
/// batch line on blanks, reads `#` as the start of a comment and `"`/`'`
/// as quotes, and a line break starts another command: none of these may
/// appear, nor any control character.
pub fn ip_batch_line_problem(line: &str) -> Option<String> {
    let bad = line
        .chars()
        .find(|c| c.is_control() || matches!(c, '#' | '"' | '\'' | '\\'));
    bad.map(|c| {
        format!(
            "refusing to run `ip` with {:?}: it holds {:?}, which ip -batch would read as syntax",
            line, c
        )
    })
}

/// Text for an nftables double-quoted string (a rule comment, an interface
/// name): nft has no escapes inside quotes, so every character that is
/// not plainly safe becomes `_`, and the text is cut to nft's comment
/// limit (128 bytes).
pub fn nft_string(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " -_./:=,+@()[]".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    format!("\"{clean}\"")
}

/// `s` as one word for a POSIX shell: as is when it is plainly safe,
/// else in single quotes (a single quote inside becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_batch_lines_that_could_inject_are_refused() {
        assert_eq!(
            ip_batch_line_problem("route replace 10.0.0.0/24 via 10.0.0.1 dev eth0 metric 1"),
            None
        );
        for hostile in [
            "addr add 10.0.0.1/24 dev eth0\nlink del eth1",
            "link set dev eth0 up # comment",
            "link set dev \"eth 0\" up",
            "link set dev 'x' up",
            "link set dev a\\ b up",
            "link set dev a\0b up",
            "link set dev a\rb up",
        ] {
            assert!(ip_batch_line_problem(hostile).is_some(), "{hostile:?}");
        }
    }

    #[test]
    fn nft_strings_cannot_be_closed_from_inside() {
        let s = nft_string("egress \"x\"; flush ruleset;\n# \\");
        assert_eq!(s, "\"egress _x__ flush ruleset___ _\"");
        assert_eq!(s.matches('"').count(), 2);
        assert_eq!(nft_string(&"a".repeat(500)).len(), 122);
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_quote("al1a2b-k8s-node-vm-1"), "al1a2b-k8s-node-vm-1");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's;rm -rf"), r"'it'\''s;rm -rf'");
        assert_eq!(shell_quote("$(x)"), "'$(x)'");
        assert_eq!(shell_quote(""), "''");
    }
}
