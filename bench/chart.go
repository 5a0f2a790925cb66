package main

import (
	"fmt"
	"io"
	"time"
)

// renderChart draws, for each run, the slowest request per 250 ms bucket over time, failed
// requests as red ticks, and every AssumeRole as a dashed line: the stalls a renewal causes.
func renderChart(w io.Writer, runs []*loadRun) {
	const (
		width, panel, left, right, top, gap = 960.0, 190.0, 70.0, 20.0, 30.0, 40.0
		bucket                              = 250 * time.Millisecond
	)
	var span time.Duration
	var peak time.Duration
	for _, r := range runs {
		for _, s := range r.samples {
			span = max(span, s.at+s.took)
			peak = max(peak, s.took)
		}
	}
	if span == 0 || peak == 0 {
		return
	}
	yMax := float64(peak) * 1.1
	height := top + float64(len(runs))*(panel+gap)
	x := func(t time.Duration) float64 { return left + (width-left-right)*float64(t)/float64(span) }
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="system-ui,sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="#fff"/>`+"\n")
	for i, r := range runs {
		y0 := top + float64(i)*(panel+gap)
		y := func(d time.Duration) float64 { return y0 + panel - panel*float64(d)/yMax }
		lat := r.latencies()
		fmt.Fprintf(w, `<text x="%.0f" y="%.0f" font-weight="600">%s: p99 %s, max %s, %d waited for STS, %d failed</text>`+"\n",
			left, y0-8, r.provider, ms(lat.quantile(0.99)), ms(lat.max()), r.waits, r.failures())
		fmt.Fprintf(w, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="#fafbfc" stroke="#dde1e8"/>`+"\n", left, y0, width-left-right, panel)
		for _, frac := range []float64{0, 0.5, 1} {
			d := time.Duration(frac * yMax)
			fmt.Fprintf(w, `<text x="%.0f" y="%.0f" text-anchor="end" fill="#5b6476">%s</text>`+"\n", left-6, y(d)+4, ms(d))
		}
		for _, t := range r.renewals {
			fmt.Fprintf(w, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="#0b5fff" stroke-dasharray="4 3" stroke-width="1"/>`+"\n", x(t), x(t), y0, y0+panel)
		}
		buckets := make([]time.Duration, int(span/bucket)+1)
		failed := make([]bool, len(buckets))
		for _, s := range r.samples {
			b := int(s.at / bucket)
			if s.failed {
				failed[b] = true
				continue
			}
			buckets[b] = max(buckets[b], s.took)
		}
		fmt.Fprintf(w, `<polyline fill="none" stroke="#1d2330" stroke-width="1.2" points="`)
		for b, d := range buckets {
			if d > 0 {
				fmt.Fprintf(w, "%.1f,%.1f ", x(time.Duration(b)*bucket+bucket/2), y(d))
			}
		}
		fmt.Fprintln(w, `"/>`)
		for b, f := range failed {
			if f {
				fx := x(time.Duration(b)*bucket + bucket/2)
				fmt.Fprintf(w, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="#d62828" stroke-width="2"/>`+"\n", fx, fx, y0+panel-12, y0+panel)
			}
		}
	}
	for s := time.Duration(0); s <= span; s += 10 * time.Second {
		fmt.Fprintf(w, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#5b6476">%ds</text>`+"\n", x(s), height-6, int(s.Seconds()))
	}
	fmt.Fprintln(w, `</svg>`)
}
