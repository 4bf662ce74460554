//! Reading what the external engines leave behind: libFuzzer's final statistics, AFL++'s
//! `fuzzer_stats`, and which of their output files are crashes. Pure functions over text
//! and names, so they are tested on captured output without launching a fuzzer.

/// libFuzzer's count of executions in the statistics `-print_final_stats=1` prints at the
/// end of a run, a crash included (`stat::number_of_executed_units: N`); the last such line.
pub fn libfuzzer_executions(log: &str) -> Option<u64> {
    stat_line(log, "stat::number_of_executed_units:")
}

/// The value of `key` in an AFL++ `fuzzer_stats` file (`key   : value` lines), as a number.
pub fn afl_stat(stats: &str, key: &str) -> Option<u64> {
    stats.lines().rev().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim().parse().ok())?
    })
}

/// Whether a file libFuzzer wrote under its artifact prefix is a crash (not a timeout,
/// out-of-memory or leak report, which are not a seeded bug's detection).
pub fn is_libfuzzer_crash(file_name: &str) -> bool {
    file_name.starts_with("crash-")
}

/// Whether a file in an AFL++ `crashes/` folder is a crashing input (not its README).
pub fn is_afl_crash(file_name: &str) -> bool {
    file_name.starts_with("id:")
}

/// The number after `prefix` on the last line starting with it.
fn stat_line(log: &str, prefix: &str) -> Option<u64> {
    log.lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix(prefix))
        .and_then(|rest| rest.trim().parse().ok())
}

/// The last `lines` lines of `log`, for an error message about a run that went wrong.
pub fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The end of a real libFuzzer run stopped by a seeded bug (this module's trial of
    /// import-size-wrap, seed 1).
    const LIBFUZZER_CRASH: &str = "\
==1457== ERROR: libFuzzer: deadly signal
NOTE: libFuzzer has rudimentary signal handlers.
      Combine libFuzzer with AddressSanitizer or similar for better crash reports.
SUMMARY: libFuzzer: deadly signal
MS: 1 InsertByte-; base unit: fb30e072f51b060bd1e5b83be40a30ae7cebd055
artifact_prefix='/tmp/k/out/'; Test unit written to /tmp/k/out/crash-57afd434f8187e14cdecc
Base64: H/9AAj0AAPwAPQE=
stat::number_of_executed_units: 7378
stat::average_exec_per_sec:     0
stat::new_units_added:          208
stat::slowest_unit_time_sec:    0
stat::peak_rss_mb:              29
";

    /// The end of a real run that spent its budget (stale-check-ignores-page-size, seed 1).
    const LIBFUZZER_BUDGET: &str = "\
###### End of recommended dictionary. ######
Done 120770 runs in 121 second(s)
stat::number_of_executed_units: 120770
stat::average_exec_per_sec:     998
";

    /// A `fuzzer_stats` file as AFL++ 4.x writes it.
    const AFL_STATS: &str = "\
start_time        : 1765120000
last_update       : 1765120012
run_time          : 12
fuzzer_pid        : 4242
execs_done        : 38127
execs_per_sec     : 3177.25
corpus_count      : 57
saved_crashes     : 1
";

    #[test]
    fn libfuzzer_statistics_are_read() {
        assert_eq!(libfuzzer_executions(LIBFUZZER_CRASH), Some(7378));
        assert_eq!(libfuzzer_executions(LIBFUZZER_BUDGET), Some(120770));
        assert_eq!(libfuzzer_executions("INFO: Seed: 1\n"), None);
        assert_eq!(
            libfuzzer_executions("stat::number_of_executed_units: lots\n"),
            None
        );
    }

    #[test]
    fn afl_statistics_are_read() {
        assert_eq!(afl_stat(AFL_STATS, "execs_done"), Some(38127));
        assert_eq!(afl_stat(AFL_STATS, "saved_crashes"), Some(1));
        assert_eq!(
            afl_stat(AFL_STATS, "execs_per_sec"),
            None,
            "not a whole number"
        );
        assert_eq!(afl_stat(AFL_STATS, "execs"), None);
    }

    #[test]
    fn crash_files_are_told_apart() {
        assert!(is_libfuzzer_crash("crash-0b1c"));
        assert!(!is_libfuzzer_crash("timeout-0b1c") && !is_libfuzzer_crash("oom-1"));
        assert!(is_afl_crash(
            "id:000000,sig:06,src:000000,time:812,execs:1905,op:havoc"
        ));
        assert!(!is_afl_crash("README.txt"));
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
