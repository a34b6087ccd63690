package deploy

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The fields of Kubernetes objects the recipe relies on (a partial model:
// deploy/kubernetes/validate decodes the whole file strictly into the real
// API types and runs the Pod Security Admission library on it).
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Template struct {
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	HostUsers       *bool            `yaml:"hostUsers"`
	HostNetwork     bool             `yaml:"hostNetwork"`
	HostPID         bool             `yaml:"hostPID"`
	HostIPC         bool             `yaml:"hostIPC"`
	SecurityContext *securityContext `yaml:"securityContext"`
	InitContainers  []container      `yaml:"initContainers"`
	Containers      []container      `yaml:"containers"`
	Volumes         []volume         `yaml:"volumes"`
}

type securityContext struct {
	Privileged               *bool `yaml:"privileged"`
	RunAsUser                *int  `yaml:"runAsUser"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	Capabilities             struct {
		Add []string `yaml:"add"`
	} `yaml:"capabilities"`
	SeccompProfile *struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
	ProcMount string `yaml:"procMount"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	SecurityContext *securityContext `yaml:"securityContext"`
	Ports           []struct {
		HostPort int `yaml:"hostPort"`
	} `yaml:"ports"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type volume struct {
	Name     string    `yaml:"name"`
	HostPath *struct{} `yaml:"hostPath"`
	EmptyDir *struct{} `yaml:"emptyDir"`
	Secret   *struct {
		SecretName string `yaml:"secretName"`
		Items      []struct {
			Key  string `yaml:"key"`
			Path string `yaml:"path"`
		} `yaml:"items"`
	} `yaml:"secret"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
}

func (c container) env(name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// writes reports whether c mounts the volume named name writable.
func (c container) writes(name string) bool {
	for _, m := range c.VolumeMounts {
		if m.Name == name && !m.ReadOnly {
			return true
		}
	}
	return false
}

// mount is the volume c mounts at path, or nil.
func (c container) mount(pod podSpec, path string) *volume {
	for _, m := range c.VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == m.Name {
				return &pod.Volumes[i]
			}
		}
	}
	return nil
}

// baselineCaps are the capabilities the baseline Pod Security Standard lets
// a container add.
var baselineCaps = []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

// baselineViolations checks pod against the controls of the baseline Pod
// Security Standard that a pod spec can break (the AppArmor, SELinux and
// sysctl controls are not used by the recipe, so not modelled).
func baselineViolations(pod podSpec) []string {
	var v []string
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		v = append(v, "host namespaces")
	}
	for _, vol := range pod.Volumes {
		if vol.HostPath != nil {
			v = append(v, "hostPath volume "+vol.Name)
		}
	}
	if sc := pod.SecurityContext; sc != nil && sc.SeccompProfile != nil && sc.SeccompProfile.Type == "Unconfined" {
		v = append(v, "pod seccomp Unconfined")
	}
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				v = append(v, c.Name+": host port")
			}
		}
		sc := c.SecurityContext
		if sc == nil {
			continue
		}
		if sc.Privileged != nil && *sc.Privileged {
			v = append(v, c.Name+": privileged")
		}
		for _, cp := range sc.Capabilities.Add {
			if !slices.Contains(baselineCaps, cp) {
				v = append(v, c.Name+": adds capability "+cp)
			}
		}
		if sc.SeccompProfile != nil && sc.SeccompProfile.Type == "Unconfined" {
			v = append(v, c.Name+": seccomp Unconfined")
		}
		if sc.ProcMount != "" && sc.ProcMount != "Default" {
			v = append(v, c.Name+": procMount "+sc.ProcMount)
		}
	}
	return v
}

func readObjects(t *testing.T, file string) map[string]object {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	objs := map[string]object{}
	dec := yaml.NewDecoder(f)
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding %s: %v", file, err)
		}
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			t.Errorf("%s: an object without apiVersion, kind or name: %+v", file, o)
		}
		objs[o.Kind] = o
	}
	return objs
}

var (
	cacheFromRe = regexp.MustCompile(`--cache-from[= ]"?type=registry,ref=([^",\s]+)`)
	cacheToRe   = regexp.MustCompile(`--cache-to[= ]"?type=registry,ref=([^",\s]+),mode=max`)
)

// checkBuild holds a strata build command line to the recipe's promise: a
// registry cache read and written (mode=max) at one ref, and a push.
func checkBuild(t *testing.T, name, cmd string) {
	t.Helper()
	from, to := cacheFromRe.FindStringSubmatch(cmd), cacheToRe.FindStringSubmatch(cmd)
	switch {
	case from == nil:
		t.Errorf("%s: no --cache-from type=registry in %q", name, cmd)
	case to == nil:
		t.Errorf("%s: no --cache-to type=registry,...,mode=max in %q", name, cmd)
	case from[1] != to[1]:
		t.Errorf("%s: --cache-from ref %s, --cache-to ref %s, want one ref", name, from[1], to[1])
	}
	if !regexp.MustCompile(`(^|\s)--push(\s|\)|$)`).MatchString(cmd) {
		t.Errorf("%s: no --push in %q", name, cmd)
	}
}

func TestKubernetesJob(t *testing.T) {
	objs := readObjects(t, "kubernetes/job.yaml")
	ns, job, cm := objs["Namespace"], objs["Job"], objs["ConfigMap"]
	if got := ns.Metadata.Labels["pod-security.kubernetes.io/enforce"]; got != "baseline" {
		t.Errorf("namespace label pod-security.kubernetes.io/enforce = %q, want baseline", got)
	}
	if job.APIVersion != "batch/v1" || job.Metadata.Namespace != ns.Metadata.Name || cm.Metadata.Namespace != ns.Metadata.Name {
		t.Errorf("Job %s in namespace %q, ConfigMap in %q, want batch/v1 and both in %q",
			job.APIVersion, job.Metadata.Namespace, cm.Metadata.Namespace, ns.Metadata.Name)
	}
	pod := job.Spec.Template.Spec
	if v := baselineViolations(pod); len(v) > 0 {
		t.Errorf("the Job's pod breaks the baseline Pod Security Standard: %q", v)
	}
	if pod.HostUsers == nil || *pod.HostUsers {
		t.Error("hostUsers is not false, want false (a user namespace per pod)")
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 1 {
		t.Fatalf("%d containers and %d init containers, want one of each", len(pod.Containers), len(pod.InitContainers))
	}
	c, initc := pod.Containers[0], pod.InitContainers[0]
	if len(c.Args) == 0 || c.Args[0] != "build" {
		t.Fatalf("strata args = %q, want a build", c.Args)
	}
	args := strings.Join(c.Args, " ")
	checkBuild(t, "job.yaml", args)
	if sc := c.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Errorf("strata runs as %+v, want runAsUser 0 (root of the pod's user namespace)", sc)
	}

	// the context: the last argument, an emptyDir the init container fills
	// from the ConfigMap, which holds a Dockerfile
	ctx := c.Args[len(c.Args)-1]
	if v := c.mount(pod, ctx); v == nil || v.EmptyDir == nil {
		t.Errorf("the context %s is not an emptyDir mounted in the strata container", ctx)
	} else if !initc.writes(v.Name) {
		t.Errorf("the init container does not mount the context volume %s writable", v.Name)
	}
	var fromConfigMap bool
	for _, m := range initc.VolumeMounts {
		if v := initc.mount(pod, m.MountPath); v != nil && v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name {
			fromConfigMap = true
		}
	}
	if !fromConfigMap {
		t.Errorf("the init container does not mount the ConfigMap %s", cm.Metadata.Name)
	}
	if _, ok := cm.Data["Dockerfile"]; !ok {
		t.Errorf("the ConfigMap holds %v, want a Dockerfile", slices.Sorted(maps.Keys(cm.Data)))
	}

	// the store and the credentials
	if v := c.mount(pod, c.env("STRATA_ROOT")); v == nil || v.EmptyDir == nil {
		t.Errorf("STRATA_ROOT=%q is not an emptyDir", c.env("STRATA_ROOT"))
	}
	v := c.mount(pod, c.env("DOCKER_CONFIG"))
	if v == nil || v.Secret == nil || len(v.Secret.Items) != 1 ||
		v.Secret.Items[0].Key != ".dockerconfigjson" || v.Secret.Items[0].Path != "config.json" {
		t.Errorf("DOCKER_CONFIG=%q is not a Secret's .dockerconfigjson mounted as config.json: %+v", c.env("DOCKER_CONFIG"), v)
	}
}

func TestGitHubActions(t *testing.T) {
	var wf struct {
		On          map[string]any    `yaml:"on"`
		Permissions map[string]string `yaml:"permissions"`
		Jobs        map[string]struct {
			RunsOn string `yaml:"runs-on"`
			Steps  []struct {
				Name string `yaml:"name"`
				Uses string `yaml:"uses"`
				Run  string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	decodeFile(t, "github-actions/strata.yml", &wf)
	if wf.Permissions["packages"] != "write" {
		t.Errorf("permissions = %v, want packages: write (push to ghcr.io)", wf.Permissions)
	}
	if _, ok := wf.On["push"]; !ok {
		t.Errorf("on = %v, want push", wf.On)
	}
	job, ok := wf.Jobs["build"]
	if !ok {
		t.Fatalf("jobs = %v, want build", wf.Jobs)
	}
	var script string
	for _, s := range job.Steps {
		if strings.Contains(s.Run, "strata build") {
			script = s.Run
		}
	}
	if script == "" {
		t.Fatal("no step runs strata build")
	}
	checkBuild(t, "strata.yml", script)
}

func TestGitLabCI(t *testing.T) {
	var ci map[string]yaml.Node // jobs and keywords (stages, variables)
	decodeFile(t, "gitlab-ci/.gitlab-ci.yml", &ci)
	node, ok := ci["build-image"]
	if !ok {
		t.Fatalf("no build-image job in %v", slices.Sorted(maps.Keys(ci)))
	}
	var job struct {
		Image  string   `yaml:"image"`
		Script []string `yaml:"script"`
	}
	if err := node.Decode(&job); err != nil {
		t.Fatalf("decoding the build-image job: %v", err)
	}
	if job.Image == "" {
		t.Error("the build-image job names no image")
	}
	script := strings.Join(job.Script, "\n")
	if !strings.Contains(script, "strata\" build") && !strings.Contains(script, "strata build") {
		t.Fatalf("build-image does not run strata build: %q", script)
	}
	checkBuild(t, ".gitlab-ci.yml", script)
}

func decodeFile(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding %s: %v", file, err)
	}
}
