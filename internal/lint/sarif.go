package lint

import (
	"encoding/json"
	"io"
)

// SARIF 2.1.0, the subset code scanning reads.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool    sarifTool     `json:"tool"`
		Results []sarifResult `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		InformationURI string      `json:"informationUri,omitempty"`
		Version        string      `json:"version,omitempty"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string       `json:"id"`
		Name                 string       `json:"name,omitempty"`
		ShortDescription     sarifMessage `json:"shortDescription"`
		Help                 sarifMessage `json:"help"`
		HelpURI              string       `json:"helpUri,omitempty"`
		DefaultConfiguration sarifConfig  `json:"defaultConfiguration"`
		Properties           sarifProps   `json:"properties"`
	}
	sarifConfig struct {
		Level string `json:"level"`
	}
	sarifProps struct {
		Tags []string `json:"tags,omitempty"`
	}
	sarifMessage struct {
		Text string `json:"text"`
	}
	sarifResult struct {
		RuleID    string          `json:"ruleId"`
		RuleIndex int             `json:"ruleIndex"`
		Level     string          `json:"level"`
		Message   sarifMessage    `json:"message"`
		Locations []sarifLocation `json:"locations"`
	}
	sarifLocation struct {
		PhysicalLocation sarifPhysical `json:"physicalLocation"`
	}
	sarifPhysical struct {
		ArtifactLocation sarifArtifact `json:"artifactLocation"`
		Region           sarifRegion   `json:"region"`
	}
	sarifArtifact struct {
		URI string `json:"uri"`
	}
	sarifRegion struct {
		StartLine   int           `json:"startLine"`
		StartColumn int           `json:"startColumn,omitempty"`
		Snippet     *sarifMessage `json:"snippet,omitempty"`
	}
)

// sarifLevel maps a severity to SARIF's level.
func sarifLevel(s Severity) string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	case Info:
		return "note"
	}
	return "none"
}

// WriteSARIF writes findings as a SARIF 2.1.0 log with one run whose tool
// lists every rule. uri is how the Dockerfile is named in locations
// (relative to the repository root for code scanning).
func WriteSARIF(w io.Writer, rules []Rule, findings []Finding, uri string) error {
	drv := sarifDriver{Name: "strata", InformationURI: "https://github.com/strata-build/strata", Rules: []sarifRule{}}
	index := map[string]int{}
	for _, r := range rules {
		index[r.ID] = len(drv.Rules)
		help := r.Summary
		if r.Fix != "" {
			help += ". Fix: " + r.Fix
		}
		drv.Rules = append(drv.Rules, sarifRule{
			ID: r.ID, Name: r.ID, ShortDescription: sarifMessage{Text: r.Summary}, Help: sarifMessage{Text: help},
			HelpURI: r.URL, DefaultConfiguration: sarifConfig{Level: sarifLevel(r.Severity)},
			Properties: sarifProps{Tags: append([]string{string(r.Family)}, r.Aliases...)},
		})
	}
	run := sarifRun{Tool: sarifTool{Driver: drv}, Results: []sarifResult{}}
	for _, f := range findings {
		reg := sarifRegion{StartLine: f.Line, StartColumn: f.Column}
		if f.Source != "" {
			reg.Snippet = &sarifMessage{Text: f.Source}
		}
		msg := f.Message
		if f.Fix != "" {
			msg += " (fix: " + f.Fix + ")"
		}
		run.Results = append(run.Results, sarifResult{
			RuleID: f.Rule, RuleIndex: index[f.Rule], Level: sarifLevel(f.Severity), Message: sarifMessage{Text: msg},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: uri}, Region: reg}}},
		})
	}
	log := sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}
