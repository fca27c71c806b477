package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The results: medians, ratios, the table and the results file.

// median is the median of xs; NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// seconds converts durations to seconds.
func seconds(ds []time.Duration) []float64 {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = d.Seconds()
	}
	return xs
}

// ratios divides a by b round by round.
func ratios(a, b []time.Duration) []float64 {
	var xs []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			xs = append(xs, a[i].Seconds()/b[i].Seconds())
		}
	}
	return xs
}

// fmtDur formats d in ms below a second, else in seconds.
func fmtDur(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// fmtSec formats s seconds as fmtDur does; "–" for NaN.
func fmtSec(s float64) string {
	if math.IsNaN(s) {
		return "–"
	}
	return fmtDur(time.Duration(s * float64(time.Second)))
}

// row is one line of the results table.
type row struct {
	name, builder, buildah, ratio, target, met string
}

// rows are the results table's lines: medians, ratio and target per
// measured scenario.
func (h *harness) rows() []row {
	var rows []row
	for _, g := range h.groups {
		for _, s := range g.scenarios {
			tm := h.times[s.name]
			if tm == nil {
				continue
			}
			r := row{name: s.name, builder: fmtSec(median(seconds(tm.builder))), buildah: "–"}
			var ratio float64
			if s.builderOnly {
				r.name = s.name + " (builder only: debian/busybox)"
				ratio = math.NaN()
				if other := h.times[s.pairedWith]; other != nil {
					ratio = median(ratios(other.builder, tm.builder))
				}
			} else {
				r.buildah = fmtSec(median(seconds(tm.buildah)))
				ratio = median(ratios(tm.builder, tm.buildah))
			}
			r.target = fmt.Sprintf("≤ %.2f", s.target)
			if s.absTarget > 0 {
				r.target += ", < " + fmtDur(s.absTarget)
			}
			met := !math.IsNaN(ratio) && ratio <= s.target
			if s.absTarget > 0 && median(seconds(tm.builder)) >= s.absTarget.Seconds() {
				met = false
			}
			r.ratio, r.met = "–", "no"
			if !math.IsNaN(ratio) {
				r.ratio = fmt.Sprintf("%.3f", ratio)
			}
			if met {
				r.met = "yes"
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// table renders the results as a markdown table.
func (h *harness) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| scenario | builder median | %s median | ratio (median of paired ratios) | target | met? |\n", h.other.name())
	b.WriteString("| --- | ---: | ---: | ---: | --- | --- |\n")
	for _, r := range h.rows() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.name, r.builder, r.buildah, r.ratio, r.target, r.met)
	}
	return b.String()
}

// notes says how buildah was run, under the table.
func (h *harness) notes() string {
	if h.opt.baseline != "" {
		return fmt.Sprintf("baseline is %s, run exactly as the builder; targets are buildah's and do not apply.\n", h.opt.baseline)
	}
	return fmt.Sprintf("buildah runs with --layers (its layer cache, which the warm scenarios use), --isolation chroot and storage driver %s; "+
		"it has a --jobs flag for building stages in parallel, left at its default (1). Its time is bud + push to the OCI layout.\n", h.buildah.Driver)
}

// report is the whole results file: machine, settings, table, scenarios
// and every round's times.
func (h *harness) report() string {
	var b strings.Builder
	sel := "all scenarios"
	if h.opt.run.String() != "" {
		sel = fmt.Sprintf("scenarios matching `%s`", h.opt.run)
	}
	fmt.Fprintf(&b, "# builder vs buildah\n\n%s, %d round(s), %s.\n\n", h.started.UTC().Format(time.RFC3339), h.opt.rounds, sel)
	b.WriteString("## Machine\n\n" + strings.Join(h.machine, "\n") + "\n\n")
	b.WriteString("## Results\n\n")
	b.WriteString("Ratio is this builder / buildah, the median of the per-round ratios (paired by round); " +
		"times are medians of wall time. A target with a time also bounds the builder's median.\n\n")
	b.WriteString(h.table())
	b.WriteString("\n" + h.notes())
	fmt.Fprintf(&b, "\nLoad average (1, 5, 15 min) at the start: %s; at the end: %s.\n", h.loadStart, h.loadEnd)
	b.WriteString("\n## How it was measured\n\n")
	pushFlags := strings.Join(h.buildah.pushFlags, " ")
	fmt.Fprintf(&b, `- Both tools pull their bases from a docker-registry on 127.0.0.1 (plain HTTP), holding the busybox and Debian layouts pushed there by skopeo.
- builder: `+"`builder build --root STATE -f DOCKERFILE -t bench:SCEN -o type=oci,dest=OUT,tar=false --compression gzip CONTEXT`"+`, timed as a whole.
- buildah: `+"`buildah --root R --runroot RR --storage-driver %s bud --isolation chroot --layers --tls-verify=false -f DOCKERFILE -t bench:SCEN CONTEXT`"+` then `+"`buildah ... push %s bench:SCEN oci:OUT:latest`"+`; the time is bud and push together. Otherwise buildah's defaults.
- buildah's default --pull asks the registry about the base on every build; the builder uses its stored base unless told --pull.
- Each tool has its own state directories. "Cold" scenarios start from empty state for both; warm ones reuse the state the one before left. debian-run and two-stages start from state where setup builds (not timed) pulled both bases.
- Rounds alternate the order: odd rounds run the builder first, even rounds buildah first. Page caches are never dropped; dirty pages are written out (sync) before each build, untimed.
- Every output is checked: skopeo reads it as an OCI layout, every layer is gzip, and every blob matches its size and digest.
- Debian base: bookworm, debootstrap --variant=minbase, made by scripts/debian-base.sh.
`, h.buildah.Driver, pushFlags)
	b.WriteString("\n## Scenarios\n\n")
	for _, g := range h.groups {
		for _, s := range g.scenarios {
			if h.times[s.name] != nil {
				fmt.Fprintf(&b, "- %s: %s\n", s.name, s.desc)
			}
		}
	}
	b.WriteString("\n## Every round\n\n| scenario | round | builder | buildah | ratio |\n| --- | ---: | ---: | ---: | ---: |\n")
	for _, g := range h.groups {
		for _, s := range g.scenarios {
			tm := h.times[s.name]
			if tm == nil {
				continue
			}
			for i, d := range tm.builder {
				bah, ratio := "–", "–"
				if i < len(tm.buildah) {
					bah = fmtDur(tm.buildah[i])
					ratio = fmt.Sprintf("%.2f", d.Seconds()/tm.buildah[i].Seconds())
				}
				fmt.Fprintf(&b, "| %s | %d | %s | %s | %s |\n", s.name, i+1, fmtDur(d), bah, ratio)
			}
		}
	}
	return b.String()
}
