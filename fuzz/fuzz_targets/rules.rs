#![no_main]
//! Fuzzes the user-date-rules handler with a fixed set of rules (text dates,
//! a same-length binary case, an ELF data-section case). Seed with the corpus:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run rules fuzz/corpus/rules corpus/javadoc corpus/perllocal`

use std::path::Path;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use strip_nd::config::Config;
use strip_nd::handlers::rules::RulesHandler;
use strip_nd::rules::Rules;

const RULES: &str = r#"
[[rule]]
scope = "**"
regex = 'generated on (?P<date>\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4})'
format = "%a %b %e %H:%M:%S UTC %Y"

[[rule]]
scope = "**"
regex = '(?P<date>\d{4}-\d\d-\d\d)'
format = "%Y-%m-%d"

[[rule]]
scope = "**"
regex = 'built (?P<date>(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{4})'
format = "%b %e %Y"
"#;

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let mut config = Config::with_epoch(1_000_000_000).panicking();
        config.settings.rules =
            Some(Arc::new(Rules::parse(RULES, 1_000_000_000).expect("valid rules")));
        config
    })
}

fuzz_target!(|data: &[u8]| strip_nd_fuzz::check_with(&RulesHandler, data, config(), Path::new("gen/x.h")));
