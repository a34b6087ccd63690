// Package report owns what strata says about images after the fact: sizes
// per layer and per instruction, largest files and directories, wasted bytes
// and the efficiency score as dive defines them, the bloat finder, the
// end-of-build summary, comparisons between images, the stage graph (text,
// DOT, Mermaid and an SVG laid out here) and the self-contained HTML report.
//
// It works on values: v1.Image, plan.Plan and the summaries it computes. It
// reads layers as streams, one at a time per worker, and never holds a whole
// layer in memory. It must not import build or sandbox (a depcheck test holds
// this); the cli turns a build result into the inputs it takes.
package report
