// Command validate checks a Kubernetes manifest offline, as far as the API
// types and the Pod Security Admission library can without a cluster: every
// document is decoded strictly into its typed object (an unknown or
// mistyped field fails), and the pod template of every Job is evaluated
// against the Pod Security Standards at Kubernetes 1.30 and at the latest
// version the library knows. It fails when a pod is not baseline.
//
//	cd deploy/kubernetes/validate && go run . ../job.yaml
//
// A module of its own, so that strata does not depend on Kubernetes.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: validate MANIFEST.yaml")
		os.Exit(2)
	}
	if err := validate(os.Args[1], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

func validate(file string, out io.Writer) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return fmt.Errorf("making the pod security evaluator: %w", err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var errs []error
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("reading %s: %w", file, err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return fmt.Errorf("reading %s: %w", file, err)
		}
		var obj any
		switch tm.Kind {
		case "Namespace":
			obj = &corev1.Namespace{}
		case "ConfigMap":
			obj = &corev1.ConfigMap{}
		case "Secret":
			obj = &corev1.Secret{}
		case "Job":
			obj = &batchv1.Job{}
		default:
			errs = append(errs, fmt.Errorf("kind %q: not known to this validator", tm.Kind))
			continue
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			errs = append(errs, fmt.Errorf("decoding %s %s: %w", tm.APIVersion, tm.Kind, err))
			continue
		}
		fmt.Fprintf(out, "%s %s: decoded strictly\n", tm.APIVersion, tm.Kind)
		if job, ok := obj.(*batchv1.Job); ok {
			errs = append(errs, podSecurity(eval, job, out))
		}
	}
	return errors.Join(errs...)
}

// podSecurity evaluates job's pod template at each level and version; an
// error when it is not baseline.
func podSecurity(eval policy.Evaluator, job *batchv1.Job, out io.Writer) error {
	var errs []error
	for _, level := range []api.Level{api.LevelBaseline, api.LevelRestricted} {
		for _, v := range []string{"v1.30", "latest"} {
			version, err := api.ParseVersion(v)
			if err != nil {
				return err
			}
			tmpl := job.Spec.Template
			res := policy.AggregateCheckResults(eval.EvaluatePod(api.LevelVersion{Level: level, Version: version}, &tmpl.ObjectMeta, &tmpl.Spec))
			if res.Allowed {
				fmt.Fprintf(out, "  pod security %s:%s: allowed\n", level, v)
				continue
			}
			fmt.Fprintf(out, "  pod security %s:%s: forbidden: %s\n", level, v, res.ForbiddenDetail())
			if level == api.LevelBaseline {
				errs = append(errs, fmt.Errorf("job %s is not %s at %s: %s", job.Name, level, v, res.ForbiddenDetail()))
			}
		}
	}
	return errors.Join(errs...)
}
