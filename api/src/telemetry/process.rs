//! The process metrics every Prometheus client exports (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_open_fds`, ...), with the names and meanings of
//! the Go client's, read from `/proc` at each scrape. Linux only: elsewhere there are none.
//!
//! Written here rather than taken from a crate: `prometheus-client` has no process collector,
//! the maintained ones (`metrics-process`) feed the `metrics` facade instead, and what they do
//! on Linux is these few reads of `/proc/self`.

use prometheus_client::registry::Registry;

#[cfg(target_os = "linux")]
pub(super) fn register(registry: &mut Registry) {
    registry.register_collector(Box::new(linux::Process));
}

#[cfg(not(target_os = "linux"))]
pub(super) fn register(_registry: &mut Registry) {}

#[cfg(target_os = "linux")]
mod linux {
    use prometheus_client::{
        collector::Collector,
        encoding::{DescriptorEncoder, NoLabelSet},
        metrics::MetricType,
    };

    #[derive(Debug)]
    pub(super) struct Process;

    /// What `/proc/self/stat` says, in the units the metrics want.
    #[derive(Debug, PartialEq)]
    pub(super) struct Stat {
        pub cpu_seconds: f64,
        pub threads: u64,
        pub start_time_seconds: f64,
        pub virtual_memory_bytes: u64,
        pub resident_memory_bytes: u64,
    }

    /// Parses `/proc/self/stat` (proc(5)). The command name, field 2, is in parentheses and
    /// may itself hold spaces and parentheses: fields are counted after its last `)`.
    pub(super) fn parse_stat(
        text: &str,
        ticks_per_second: f64,
        page_size: u64,
        boot_time: u64,
    ) -> Option<Stat> {
        let rest = &text[text.rfind(')')? + 1..];
        // Field 3 (state) is the first after the name.
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(Stat {
            cpu_seconds: (field(14)? + field(15)?) as f64 / ticks_per_second,
            threads: field(20)?,
            start_time_seconds: boot_time as f64 + field(22)? as f64 / ticks_per_second,
            virtual_memory_bytes: field(23)?,
            resident_memory_bytes: field(24)? * page_size,
        })
    }

    fn boot_time() -> Option<u64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()
    }

    fn open_fds() -> Option<u64> {
        // The directory's own descriptor is among the entries, as in the Go client.
        Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
    }

    fn max_fds() -> Option<u64> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct it is given and reads nothing else.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        ok.then_some(limit.rlim_cur)
    }

    fn sysconf(name: libc::c_int) -> Option<u64> {
        // SAFETY: sysconf only reads a system setting.
        u64::try_from(unsafe { libc::sysconf(name) })
            .ok()
            .filter(|v| *v > 0)
    }

    fn stat() -> Option<Stat> {
        let text = std::fs::read_to_string("/proc/self/stat").ok()?;
        parse_stat(
            &text,
            sysconf(libc::_SC_CLK_TCK)? as f64,
            sysconf(libc::_SC_PAGESIZE)?,
            boot_time()?,
        )
    }

    impl Collector for Process {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            if let Some(stat) = stat() {
                encoder
                    .encode_descriptor(
                        "process_cpu_seconds",
                        "Total user and system CPU time spent in seconds.",
                        None,
                        MetricType::Counter,
                    )?
                    .encode_counter::<NoLabelSet, _, u64>(&stat.cpu_seconds, None)?;
                let gauges = [
                    (
                        "process_resident_memory_bytes",
                        "Resident memory size in bytes.",
                        stat.resident_memory_bytes as f64,
                    ),
                    (
                        "process_virtual_memory_bytes",
                        "Virtual memory size in bytes.",
                        stat.virtual_memory_bytes as f64,
                    ),
                    (
                        "process_start_time_seconds",
                        "Start time of the process since unix epoch in seconds.",
                        stat.start_time_seconds,
                    ),
                    (
                        "process_threads",
                        "Number of OS threads in the process.",
                        stat.threads as f64,
                    ),
                ];
                for (name, help, value) in gauges {
                    encoder
                        .encode_descriptor(name, help, None, MetricType::Gauge)?
                        .encode_gauge(&value)?;
                }
            }
            let fds = [
                (
                    "process_open_fds",
                    "Number of open file descriptors.",
                    open_fds(),
                ),
                (
                    "process_max_fds",
                    "Maximum number of open file descriptors.",
                    max_fds(),
                ),
            ];
            for (name, help, value) in fds {
                if let Some(value) = value {
                    encoder
                        .encode_descriptor(name, help, None, MetricType::Gauge)?
                        .encode_gauge(&value)?;
                }
            }
            Ok(())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn stat_fields_are_counted_after_the_last_parenthesis() {
            // A command name with a space and a parenthesis, as a process may give itself.
            let line = "4242 (spa auth) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 \
                        7 0 12345 1048576 300 18446744073709551615";
            let stat = parse_stat(line, 100.0, 4096, 1_700_000_000).expect("parses");
            assert_eq!(stat.cpu_seconds, 4.0);
            assert_eq!(stat.threads, 7);
            assert!((stat.start_time_seconds - 1_700_000_123.45).abs() < 1e-3);
            assert_eq!(stat.virtual_memory_bytes, 1_048_576);
            assert_eq!(stat.resident_memory_bytes, 300 * 4096);
        }
    }
}
