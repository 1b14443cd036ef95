//! Pure parsers for the cgroup v2 interface files and `/proc/meminfo`.
//!
//! Each function takes the file's text and returns a typed struct, so they are tested
//! without a filesystem and reused by the collector. Formats (kernel
//! `Documentation/admin-guide/cgroup-v2.rst`):
//!
//! - flat-keyed `key value` lines: `cpu.stat`, `memory.stat`, `memory.events`;
//! - single value: `memory.current`; single value or `max`: `memory.max`;
//! - `$MAX $PERIOD`: `cpu.max` (`max 100000` when there is no quota);
//! - `/proc/meminfo`: `Key:   value kB` (some keys, e.g. `HugePages_Total`, carry no unit).
//!
//! Unknown keys are ignored (kernels add fields); a malformed line or a non-integer value
//! of a key we read is an error naming the file, line and field. Keys every supported
//! kernel writes are required; keys that appear only with a controller enabled (the
//! throttling fields of `cpu.stat` need the `cpu` controller) are `Option`.

use crate::error::ParseError;

/// `cpu.stat`. Times are microseconds, as the kernel writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuStat {
    /// Total CPU time (`usage_usec`).
    pub usage_usec: u64,
    /// User CPU time (`user_usec`).
    pub user_usec: u64,
    /// System CPU time (`system_usec`).
    pub system_usec: u64,
    /// Elapsed enforcement periods (`nr_periods`; only with the `cpu` controller).
    pub nr_periods: Option<u64>,
    /// Periods in which the group was throttled (`nr_throttled`).
    pub nr_throttled: Option<u64>,
    /// Total throttled time (`throttled_usec`).
    pub throttled_usec: Option<u64>,
}

/// The `memory.stat` fields the collector uses (bytes). All optional: cAdvisor only
/// subtracts `inactive_file` from usage when the key is present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryStat {
    /// Anonymous memory (`anon`).
    pub anon_bytes: Option<u64>,
    /// Page cache (`file`).
    pub file_bytes: Option<u64>,
    /// Active page cache (`active_file`).
    pub active_file_bytes: Option<u64>,
    /// Inactive, reclaimable page cache (`inactive_file`): what the working set excludes.
    pub inactive_file_bytes: Option<u64>,
}

/// `memory.events` counters (hierarchical: they include descendants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryEvents {
    /// Times reclaim ran below `memory.low` protection.
    pub low: u64,
    /// Times usage exceeded `memory.high` and was throttled.
    pub high: u64,
    /// Times usage was about to exceed `memory.max`.
    pub max: u64,
    /// Times the OOM killer was considered.
    pub oom: u64,
    /// Processes killed by the OOM killer.
    pub oom_kill: u64,
}

/// `cpu.max`: the CFS bandwidth limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuMax {
    /// Allowed run time per period, `None` for `max` (no quota).
    pub quota_usec: Option<u64>,
    /// The period length.
    pub period_usec: u64,
}

/// The `/proc/meminfo` fields the collector uses, converted from kB to bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Meminfo {
    /// `MemTotal`.
    pub mem_total_bytes: u64,
    /// `MemFree`.
    pub mem_free_bytes: u64,
    /// `MemAvailable` (absent before Linux 3.14).
    pub mem_available_bytes: Option<u64>,
    /// `Inactive(file)`.
    pub inactive_file_bytes: Option<u64>,
    /// `SwapTotal`.
    pub swap_total_bytes: Option<u64>,
    /// `SwapFree`.
    pub swap_free_bytes: Option<u64>,
}

impl Meminfo {
    /// Root-cgroup memory usage as runc emulates it: the v2 root has no `memory.current`, so
    /// `libcontainer/cgroups/fs2/memory.go` (`statsFromMeminfo`) reports
    /// `(MemTotal − MemFree) × 1024`. Saturates rather than underflowing.
    pub fn used_bytes(&self) -> u64 {
        self.mem_total_bytes.saturating_sub(self.mem_free_bytes)
    }
}

/// Parses `cpu.stat`.
pub fn parse_cpu_stat(text: &str) -> Result<CpuStat, ParseError> {
    const FILE: &str = "cpu.stat";
    let mut out = CpuStat::default();
    let (mut usage, mut user, mut system) = (None, None, None);
    for_each_flat_key(FILE, text, |key, value, line| {
        let slot = match key {
            "usage_usec" => &mut usage,
            "user_usec" => &mut user,
            "system_usec" => &mut system,
            "nr_periods" => &mut out.nr_periods,
            "nr_throttled" => &mut out.nr_throttled,
            "throttled_usec" => &mut out.throttled_usec,
            _ => return Ok(()),
        };
        *slot = Some(parse_u64(FILE, line, key, value)?);
        Ok(())
    })?;
    out.usage_usec = required(FILE, "usage_usec", usage)?;
    out.user_usec = required(FILE, "user_usec", user)?;
    out.system_usec = required(FILE, "system_usec", system)?;
    Ok(out)
}

/// Parses `memory.stat` (only the fields in [`MemoryStat`]).
pub fn parse_memory_stat(text: &str) -> Result<MemoryStat, ParseError> {
    const FILE: &str = "memory.stat";
    let mut out = MemoryStat::default();
    for_each_flat_key(FILE, text, |key, value, line| {
        let slot = match key {
            "anon" => &mut out.anon_bytes,
            "file" => &mut out.file_bytes,
            "active_file" => &mut out.active_file_bytes,
            "inactive_file" => &mut out.inactive_file_bytes,
            _ => return Ok(()),
        };
        *slot = Some(parse_u64(FILE, line, key, value)?);
        Ok(())
    })?;
    Ok(out)
}

/// Parses `memory.events`. `oom_kill` is required (present since Linux 4.13); the others
/// default to 0 if a kernel leaves them out.
pub fn parse_memory_events(text: &str) -> Result<MemoryEvents, ParseError> {
    const FILE: &str = "memory.events";
    let mut out = MemoryEvents::default();
    let mut oom_kill = None;
    for_each_flat_key(FILE, text, |key, value, line| {
        let v = match key {
            "low" | "high" | "max" | "oom" | "oom_kill" => parse_u64(FILE, line, key, value)?,
            _ => return Ok(()),
        };
        match key {
            "low" => out.low = v,
            "high" => out.high = v,
            "max" => out.max = v,
            "oom" => out.oom = v,
            _ => oom_kill = Some(v),
        }
        Ok(())
    })?;
    out.oom_kill = required(FILE, "oom_kill", oom_kill)?;
    Ok(out)
}

/// Parses `memory.current` (bytes).
pub fn parse_memory_current(text: &str) -> Result<u64, ParseError> {
    const FILE: &str = "memory.current";
    let value = single_token(FILE, text)?;
    parse_u64(FILE, 1, "value", value)
}

/// Parses `memory.max`: `Ok(None)` means `max` (no limit).
pub fn parse_memory_max(text: &str) -> Result<Option<u64>, ParseError> {
    const FILE: &str = "memory.max";
    match single_token(FILE, text)? {
        "max" => Ok(None),
        value => parse_u64(FILE, 1, "value", value).map(Some),
    }
}

/// Parses `cpu.max` (`$MAX $PERIOD`). A lone `$MAX` gets the kernel's default period of
/// 100 ms.
pub fn parse_cpu_max(text: &str) -> Result<CpuMax, ParseError> {
    const FILE: &str = "cpu.max";
    const DEFAULT_PERIOD_USEC: u64 = 100_000;
    let mut tokens = text.split_whitespace();
    let quota = tokens.next().ok_or(ParseError::Empty { file: FILE })?;
    let period = tokens.next();
    if tokens.next().is_some() {
        return Err(ParseError::MalformedLine {
            file: FILE,
            line: 1,
        });
    }
    let quota_usec = match quota {
        "max" => None,
        q => Some(parse_u64(FILE, 1, "quota", q)?),
    };
    let period_usec = match period {
        Some(p) => parse_u64(FILE, 1, "period", p)?,
        None => DEFAULT_PERIOD_USEC,
    };
    Ok(CpuMax {
        quota_usec,
        period_usec,
    })
}

/// Parses `/proc/meminfo`. `MemTotal` and `MemFree` are required.
pub fn parse_meminfo(text: &str) -> Result<Meminfo, ParseError> {
    const FILE: &str = "/proc/meminfo";
    let mut out = Meminfo::default();
    let (mut total, mut free) = (None, None);
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let (key, rest) = raw
            .split_once(':')
            .ok_or(ParseError::MalformedLine { file: FILE, line })?;
        let slot = match key {
            "MemTotal" => &mut total,
            "MemFree" => &mut free,
            "MemAvailable" => &mut out.mem_available_bytes,
            "Inactive(file)" => &mut out.inactive_file_bytes,
            "SwapTotal" => &mut out.swap_total_bytes,
            "SwapFree" => &mut out.swap_free_bytes,
            _ => continue,
        };
        let mut tokens = rest.split_whitespace();
        let value = tokens
            .next()
            .ok_or(ParseError::MalformedLine { file: FILE, line })?;
        let kib = parse_u64(FILE, line, key, value)?;
        let bytes = match tokens.next() {
            Some("kB") => kib.checked_mul(1024),
            None => Some(kib),
            Some(_) => None,
        }
        .ok_or_else(|| ParseError::bad_value(FILE, line, key, rest.trim()))?;
        *slot = Some(bytes);
    }
    out.mem_total_bytes = required(FILE, "MemTotal", total)?;
    out.mem_free_bytes = required(FILE, "MemFree", free)?;
    Ok(out)
}

/// Calls `f(key, value, line)` for each non-blank `key value` line.
fn for_each_flat_key(
    file: &'static str,
    text: &str,
    mut f: impl FnMut(&str, &str, usize) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let mut tokens = raw.split_whitespace();
        let Some(key) = tokens.next() else { continue };
        let (Some(value), None) = (tokens.next(), tokens.next()) else {
            return Err(ParseError::MalformedLine { file, line });
        };
        f(key, value, line)?;
    }
    Ok(())
}

/// The only whitespace-separated token of a single-value file.
fn single_token<'a>(file: &'static str, text: &'a str) -> Result<&'a str, ParseError> {
    let mut tokens = text.split_whitespace();
    let value = tokens.next().ok_or(ParseError::Empty { file })?;
    if tokens.next().is_some() {
        return Err(ParseError::MalformedLine { file, line: 1 });
    }
    Ok(value)
}

fn parse_u64(file: &'static str, line: usize, field: &str, value: &str) -> Result<u64, ParseError> {
    value
        .parse::<u64>()
        .map_err(|_| ParseError::bad_value(file, line, field, value))
}

fn required(file: &'static str, field: &'static str, v: Option<u64>) -> Result<u64, ParseError> {
    v.ok_or(ParseError::MissingField { file, field })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPU_STAT: &str = "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n\
        core_sched.force_idle_usec 0\nnr_periods 1200\nnr_throttled 37\nthrottled_usec 1850000\n\
        nr_bursts 0\nburst_usec 0\n";

    #[test]
    fn cpu_stat_with_cpu_controller() {
        assert_eq!(
            parse_cpu_stat(CPU_STAT),
            Ok(CpuStat {
                usage_usec: 2_500_000,
                user_usec: 2_000_000,
                system_usec: 500_000,
                nr_periods: Some(1200),
                nr_throttled: Some(37),
                throttled_usec: Some(1_850_000),
            })
        );
    }

    #[test]
    fn cpu_stat_without_cpu_controller_has_no_throttling_fields() {
        // What a hybrid-mode v2 root (no controllers) writes.
        let got = parse_cpu_stat("usage_usec 5\nuser_usec 4\nsystem_usec 1\nnice_usec 0\n");
        assert_eq!(
            got,
            Ok(CpuStat {
                usage_usec: 5,
                user_usec: 4,
                system_usec: 1,
                ..CpuStat::default()
            })
        );
    }

    #[test]
    fn cpu_stat_errors_name_line_and_field() {
        let err = parse_cpu_stat("usage_usec 1\nuser_usec x1\nsystem_usec 1\n").expect_err("bad");
        assert_eq!(err, ParseError::bad_value("cpu.stat", 2, "user_usec", "x1"));
        assert_eq!(
            err.to_string(),
            "cpu.stat line 2: field user_usec: \"x1\" is not an unsigned integer"
        );
        let err = parse_cpu_stat("usage_usec 1 2\n").expect_err("bad");
        assert_eq!(
            err,
            ParseError::MalformedLine {
                file: "cpu.stat",
                line: 1
            }
        );
        let err = parse_cpu_stat("usage_usec 1\nsystem_usec 1\n").expect_err("bad");
        assert_eq!(
            err,
            ParseError::MissingField {
                file: "cpu.stat",
                field: "user_usec"
            }
        );
        let err = parse_cpu_stat("usage_usec -1\n").expect_err("bad");
        assert!(
            matches!(err, ParseError::BadValue { line: 1, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn memory_stat_reads_the_file_fields_and_ignores_the_rest() {
        let text = "anon 104857600\nfile 52428800\nkernel 1048576\nactive_anon 0\n\
            inactive_anon 104857600\nactive_file 20971520\ninactive_file 31457280\n\
            workingset_refault_file 12\n";
        assert_eq!(
            parse_memory_stat(text),
            Ok(MemoryStat {
                anon_bytes: Some(104_857_600),
                file_bytes: Some(52_428_800),
                active_file_bytes: Some(20_971_520),
                inactive_file_bytes: Some(31_457_280),
            })
        );
        assert_eq!(parse_memory_stat(""), Ok(MemoryStat::default()));
        let err = parse_memory_stat("anon 1\ninactive_file 1.5\n").expect_err("bad");
        assert_eq!(
            err,
            ParseError::bad_value("memory.stat", 2, "inactive_file", "1.5")
        );
    }

    #[test]
    fn memory_events_fields() {
        let text = "low 0\nhigh 3\nmax 9\noom 2\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(
            parse_memory_events(text),
            Ok(MemoryEvents {
                low: 0,
                high: 3,
                max: 9,
                oom: 2,
                oom_kill: 2
            })
        );
        assert_eq!(
            parse_memory_events("low 0\n"),
            Err(ParseError::MissingField {
                file: "memory.events",
                field: "oom_kill"
            })
        );
    }

    #[test]
    fn single_value_files() {
        assert_eq!(parse_memory_current("73728\n"), Ok(73_728));
        assert_eq!(
            parse_memory_current(""),
            Err(ParseError::Empty {
                file: "memory.current"
            })
        );
        assert_eq!(
            parse_memory_current("1 2\n"),
            Err(ParseError::MalformedLine {
                file: "memory.current",
                line: 1
            })
        );
        assert_eq!(parse_memory_max("max\n"), Ok(None));
        assert_eq!(parse_memory_max("268435456\n"), Ok(Some(268_435_456)));
        assert_eq!(
            parse_memory_max("lots\n"),
            Err(ParseError::bad_value("memory.max", 1, "value", "lots"))
        );
    }

    #[test]
    fn cpu_max_forms() {
        assert_eq!(
            parse_cpu_max("max 100000\n"),
            Ok(CpuMax {
                quota_usec: None,
                period_usec: 100_000
            })
        );
        assert_eq!(
            parse_cpu_max("50000 100000\n"),
            Ok(CpuMax {
                quota_usec: Some(50_000),
                period_usec: 100_000
            })
        );
        assert_eq!(
            parse_cpu_max("max\n"),
            Ok(CpuMax {
                quota_usec: None,
                period_usec: 100_000
            })
        );
        assert_eq!(
            parse_cpu_max(""),
            Err(ParseError::Empty { file: "cpu.max" })
        );
        assert_eq!(
            parse_cpu_max("1 2 3"),
            Err(ParseError::MalformedLine {
                file: "cpu.max",
                line: 1
            })
        );
        assert_eq!(
            parse_cpu_max("x 100000"),
            Err(ParseError::bad_value("cpu.max", 1, "quota", "x"))
        );
    }

    #[test]
    fn meminfo_converts_kib_and_computes_runc_usage() {
        let text = "MemTotal:       16384000 kB\nMemFree:         4096000 kB\n\
            MemAvailable:    9000000 kB\nBuffers:           10000 kB\nInactive(file):  2048000 kB\n\
            SwapTotal:             0 kB\nSwapFree:              0 kB\nHugePages_Total:       0\n";
        let m = parse_meminfo(text).expect("meminfo");
        assert_eq!(
            m,
            Meminfo {
                mem_total_bytes: 16_384_000 * 1024,
                mem_free_bytes: 4_096_000 * 1024,
                mem_available_bytes: Some(9_000_000 * 1024),
                inactive_file_bytes: Some(2_048_000 * 1024),
                swap_total_bytes: Some(0),
                swap_free_bytes: Some(0),
            }
        );
        assert_eq!(m.used_bytes(), (16_384_000 - 4_096_000) * 1024);
    }

    #[test]
    fn meminfo_errors() {
        assert_eq!(
            parse_meminfo("MemTotal: 1 kB\n"),
            Err(ParseError::MissingField {
                file: "/proc/meminfo",
                field: "MemFree"
            })
        );
        assert_eq!(
            parse_meminfo("MemTotal 1 kB\n"),
            Err(ParseError::MalformedLine {
                file: "/proc/meminfo",
                line: 1
            })
        );
        assert_eq!(
            parse_meminfo("MemTotal: 1 kB\nMemFree: 1 MB\n"),
            Err(ParseError::bad_value("/proc/meminfo", 2, "MemFree", "1 MB"))
        );
        assert!(parse_meminfo(&format!("MemTotal: {} kB\nMemFree: 0 kB\n", u64::MAX)).is_err());
    }

    #[test]
    fn real_proc_meminfo_parses() {
        let Ok(text) = std::fs::read_to_string("/proc/meminfo") else {
            return; // not Linux
        };
        let m = parse_meminfo(&text).expect("this host's /proc/meminfo");
        assert!(m.mem_total_bytes > 0);
        assert!(m.mem_free_bytes <= m.mem_total_bytes);
        assert!(
            m.inactive_file_bytes.is_some(),
            "Inactive(file) present since 2.6.28"
        );
        assert!(m.used_bytes() > 0 && m.used_bytes() < m.mem_total_bytes);
    }

    #[test]
    fn parsers_never_panic_on_noise() {
        let mut seed: u64 = 7;
        let alphabet = b"usage_ec 0123456789:kB\nmaxinactive_file()\t-";
        for _ in 0..3_000 {
            let len = (seed % 80) as usize;
            let text: String = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    char::from(alphabet[(seed % alphabet.len() as u64) as usize])
                })
                .collect();
            let _ = parse_cpu_stat(&text);
            let _ = parse_memory_stat(&text);
            let _ = parse_memory_events(&text);
            let _ = parse_memory_current(&text);
            let _ = parse_memory_max(&text);
            let _ = parse_cpu_max(&text);
            let _ = parse_meminfo(&text);
        }
    }
}
