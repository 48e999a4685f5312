# settle.sh - sourced by the bench scripts: `settle` waits, before a timed
# run, until the 1-minute load average is below 1 (another run's own load
# decays in ~30 s on 2 cores), at most SETTLE_MAX seconds (default 180), so
# a figure is taken on an idle machine unless something else keeps it busy;
# the scripts still record the load before and after each run.
settle() {
    local waited=0 max=${SETTLE_MAX:-180}
    while awk -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN { exit !(l >= 1) }' &&
        [ "$waited" -lt "$max" ]; do
        sleep 5
        waited=$((waited + 5))
    done
}
