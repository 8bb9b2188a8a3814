//! clap's errors, reworded where its advice would mislead.

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// For `--steps -1`, clap reads `-1` as an unknown flag and suggests `-- -1`, which would
/// pass it as a photo path. Say instead that the option takes no negative number.
pub fn negative_number(e: &clap::Error, args: &[String]) -> Option<String> {
    if e.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(bad)) = e.get(ContextKind::InvalidArg) else { return None };
    bad.parse::<f64>().ok().filter(|v| *v < 0.0)?;
    let at = args.iter().position(|a| a == bad)?;
    let flag = args[..at].last().filter(|f| f.starts_with("--"))?;
    Some(format!("error: `{flag} {bad}`: {flag} takes no negative number\n\nFor more information, try '--help'.\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Probe {
        #[arg(long)]
        steps: Option<usize>,
        path: Option<String>,
    }

    fn message(args: &[&str]) -> Option<String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        negative_number(&Probe::try_parse_from(&args).unwrap_err(), &args)
    }

    #[test]
    fn a_negative_number_after_a_flag_is_named_without_the_dash_dash_tip() {
        let m = message(&["pivot", "x.png", "--steps", "-1"]).unwrap();
        assert!(m.contains("`--steps -1`: --steps takes no negative number"), "{m}");
        assert!(!m.contains("-- -1"));
        // Other mistakes keep clap's own words.
        assert_eq!(message(&["pivot", "--stepz", "3"]), None);
        assert_eq!(message(&["pivot", "-x"]), None);
    }
}
