// Package ecssim is a contract server (test double) for the part of Amazon ECS that ragmigrate
// calls: RegisterTaskDefinition, DescribeTaskDefinition, RunTask, DescribeTasks and StopTask, in
// the AWS JSON 1.1 protocol the SDK speaks (POST / with X-Amz-Target:
// AmazonEC2ContainerServiceV20141113.<Operation>), reached through AWS_ENDPOINT_URL_ECS.
//
// # Tasks are local processes
//
// A task runs its container's command as a process on this machine: the image maps to a local
// program (by default the ragmigrate binary, the image's entry point), the arguments are the
// container's command or the RunTask override's, and the environment is what the task's
// container would see: the ambient variables (Options.Env: credentials, region and endpoints,
// which on AWS come from the task role and the VPC), the container definition's environment, the
// override's environment, and the variables ECS itself sets (AWS_EXECUTION_ENV,
// ECS_CONTAINER_METADATA_URI_V4). Each line the process prints on stdout or stderr goes to the
// CloudWatch Logs contract server (Options.Logs) in the awslogs group of the container's log
// configuration, stream <prefix>/<container>/<task id>, as the awslogs driver writes it.
//
// A task goes PROVISIONING → PENDING → RUNNING → DEPROVISIONING → STOPPED. It stops with
// stopCode EssentialContainerExited and the process's exit code when the process ends,
// UserInitiated after StopTask (SIGTERM, then SIGKILL after the container's stopTimeout, 30 s by
// default, as ECS does), or TaskFailedToStart when the process cannot start.
//
// # Knobs
//
// Under /_dev/ecs/ (and the same as Go methods for in-process tests):
//
//   - POST /_dev/ecs/faults queues faults: an error answer for the next Count calls of an
//     operation (ThrottlingException, ServerException, AccessDeniedException, ...), failures[]
//     answers for the next RunTask calls (RESOURCE:CPU, AGENT, a Fargate capacity message), or a
//     start failure for the next tasks (Operation "start": the task stops with TaskFailedToStart
//     and the given stoppedReason). DELETE clears them.
//   - POST /_dev/ecs/config sets the delay between lifecycle steps and the capacity (the most
//     tasks not STOPPED at once; RunTask beyond it answers a capacity failure).
//   - GET /_dev/ecs/state lists the tasks (status history, exit code, stop code), every RunTask
//     call, the most tasks ever in flight, and the calls per operation.
//   - POST /_dev/ecs/kill {"task": id, "signal": "KILL"} ends a running task's process as a crash
//     or an out-of-memory kill would (optionally with the stoppedReason ECS would give).
//   - POST /_dev/ecs/images {"image": uri, "argv": [...]} maps an image to another program.
//   - GET /_dev/ecs/metadata/<task id>/task is the task metadata endpoint the task's
//     ECS_CONTAINER_METADATA_URI_V4 points at.
//
// It is part of the development rig and never linked into the operator's binary.
package ecssim

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ragmigrate/ragmigrate/internal/dev/awssim"
)

// TargetPrefix is the X-Amz-Target prefix of ECS.
const TargetPrefix = "AmazonEC2ContainerServiceV20141113"

// Account and Region name the resources in ARNs.
const (
	Account       = "000000000000"
	DefaultRegion = "us-east-1"
)

// CapacityReason is the failures[] reason RunTask answers when Fargate has no capacity.
const CapacityReason = "Capacity is unavailable at this time. Please try again later or in a different availability zone"

// LogSink receives the lines a task prints; logssim.Server is one.
type LogSink interface {
	CreateStream(group, stream string) error
	Put(group, stream string, at time.Time, message string) error
}

// Options configure a server.
type Options struct {
	// Dir keeps the task definitions and the tasks' records across restarts, and each task's
	// working directory. Required.
	Dir string
	// Program maps an image to the argv prefix that runs it (its entry point). Nil maps every
	// image to Binary.
	Program func(image string) ([]string, error)
	// Binary is the program every image runs when Program is nil: the ragmigrate binary.
	Binary string
	// Env returns the ambient environment of every task, read at each start. Nil gives none.
	Env func() ([]string, error)
	// Logs receives the tasks' output. Nil drops it.
	Logs LogSink
	// Region names resources in ARNs. Default DefaultRegion.
	Region string
	// StopTimeout is how long StopTask waits after SIGTERM before SIGKILL when the container
	// definition sets no stopTimeout. Default 30 s, ECS's default.
	StopTimeout time.Duration
	// Logger receives the server's own lines. Default slog.Default().
	Logger *slog.Logger
}

// Fault is one queued misbehaviour.
type Fault struct {
	// Operation is the ECS operation it answers ("RunTask", "DescribeTasks", ...), or "start" for
	// a task that fails to start.
	Operation string `json:"operation"`
	// Count is how many calls (or task starts) it answers. Default 1.
	Count int `json:"count,omitempty"`
	// Error is the error type to answer with (e.g. ThrottlingException), with Message and the
	// HTTP Status (default 400, 500 for ServerException).
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
	Status  int    `json:"status,omitempty"`
	// Failures answer a RunTask with no task and these failures[] (the ARN is filled in).
	Failures []Failure `json:"failures,omitempty"`
	// StoppedReason is the reason of a "start" fault's TaskFailedToStart.
	StoppedReason string `json:"stoppedReason,omitempty"`
}

// Config are the knobs POST /_dev/ecs/config sets.
type Config struct {
	// StepDelay is the pause between lifecycle steps (PROVISIONING → PENDING → RUNNING, and
	// DEPROVISIONING → STOPPED).
	StepDelay Duration `json:"stepDelay"`
	// MaxTasks is the capacity: the most tasks not STOPPED at once; 0 is unlimited.
	MaxTasks int `json:"maxTasks"`
}

// Duration is a time.Duration written as "1.5s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// RunTaskCall records one RunTask call as the server answered it.
type RunTaskCall struct {
	At          time.Time `json:"at"`
	Cluster     string    `json:"cluster"`
	ClientToken string    `json:"clientToken,omitempty"`
	// Tasks are the ARNs started (or returned again for a repeated clientToken).
	Tasks    []string  `json:"tasks,omitempty"`
	Failures []Failure `json:"failures,omitempty"`
	// Error is the error type answered, if any.
	Error string `json:"error,omitempty"`
	// InFlight is how many tasks were not STOPPED after the call.
	InFlight int `json:"inFlight"`
}

// State is what GET /_dev/ecs/state answers.
type State struct {
	Tasks        []TaskRecord   `json:"tasks"`
	RunTaskCalls []RunTaskCall  `json:"runTaskCalls"`
	MaxInFlight  int            `json:"maxInFlight"`
	Calls        map[string]int `json:"calls"`
	Config       Config         `json:"config"`
}

// Server is the ECS test double: an http.Handler, safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger

	mu          sync.Mutex
	families    map[string][]*taskDefinition // family → revisions in order (revision n at n-1)
	tasks       map[string]*task             // by task id
	order       []string                     // task ids in creation order
	tokens      map[string][]string          // clientToken → task ids
	faults      []*Fault
	config      Config
	calls       map[string]int
	runCalls    []RunTaskCall
	maxInFlight int
	images      map[string][]string // image → argv prefix, set by MapImage
	closed      bool
	wg          sync.WaitGroup
}

// persisted is what the server keeps in Dir.
type persisted struct {
	Families map[string][]*taskDefinition `json:"families"`
	Tasks    []*task                      `json:"tasks"`
}

func (s *Server) statePath() string { return filepath.Join(s.opts.Dir, "ecs.json") }

// New returns a server, loading the task definitions and task records a previous server kept in
// opts.Dir. A task that was not STOPPED when that server ended lost its process with it: it is
// recorded as STOPPED, saying so.
func New(opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("ecs: no state directory")
	}
	opts.Region = cmp.Or(opts.Region, DefaultRegion)
	opts.StopTimeout = cmp.Or(opts.StopTimeout, 30*time.Second)
	s := &Server{
		opts: opts, log: cmp.Or(opts.Logger, slog.Default()),
		families: map[string][]*taskDefinition{}, tasks: map[string]*task{},
		tokens: map[string][]string{}, calls: map[string]int{}, images: map[string][]string{},
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("ecs: %w", err)
	}
	var p persisted
	if err := awssim.LoadState(s.statePath(), &p); err != nil {
		return nil, fmt.Errorf("ecs: load state: %w", err)
	}
	if p.Families != nil {
		s.families = p.Families
	}
	now := time.Now()
	for _, t := range p.Tasks {
		if t.LastStatus != statusStopped {
			t.setStatus(statusStopped, now)
			t.DesiredStatus = statusStopped
			t.StopCode = "TaskFailedToStart"
			if t.StartedAt != nil {
				t.StopCode = "EssentialContainerExited"
			}
			t.StoppedReason = "the ECS contract server restarted; the task's process was lost with it"
		}
		s.tasks[t.ID] = t
		s.order = append(s.order, t.ID)
	}
	return s, nil
}

// save writes the state; s.mu is held. A failure is logged: the running server's answers do not
// depend on the file.
func (s *Server) save() {
	p := persisted{Families: s.families}
	for _, id := range s.order {
		p.Tasks = append(p.Tasks, s.tasks[id])
	}
	if err := awssim.SaveState(s.statePath(), p); err != nil {
		s.log.Error("ecs: save state", slog.Any("err", err))
	}
}

// Register adds the server's routes to an awssim.Server.
func (s *Server) Register(a *awssim.Server) {
	a.HandleJSON(TargetPrefix, s)
	a.HandleDev("POST /_dev/ecs/faults", http.HandlerFunc(s.postFaults))
	a.HandleDev("DELETE /_dev/ecs/faults", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	}))
	a.HandleDev("POST /_dev/ecs/config", http.HandlerFunc(s.postConfig))
	a.HandleDev("GET /_dev/ecs/state", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.State())
	}))
	a.HandleDev("GET /_dev/ecs/metadata/{id}/task", http.HandlerFunc(s.metadata))
	a.HandleDev("POST /_dev/ecs/kill", http.HandlerFunc(s.postKill))
	a.HandleDev("POST /_dev/ecs/images", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Image string   `json:"image"`
			Argv  []string `json:"argv"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Image == "" || len(in.Argv) == 0 {
			http.Error(w, "want {\"image\":\"…\",\"argv\":[\"program\",…]}", http.StatusBadRequest)
			return
		}
		s.MapImage(in.Image, in.Argv)
		w.WriteHeader(http.StatusNoContent)
	}))
}

// MapImage makes tasks of image run argv (plus the container's command) instead of the default
// program, e.g. the app's embedding image run by a stand-in.
func (s *Server) MapImage(image string, argv []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.images[image] = slices.Clone(argv)
}

// ErrNoSuchTask is Kill's answer for a task that is not running.
var ErrNoSuchTask = errors.New("no such running task")

// Kill signals a running task's process and its children, as a crash, an out-of-memory kill or
// a lost host would end it; the task then stops with the process's exit code, and reason when
// given in place of ECS's "Essential container in task exited".
func (s *Server) Kill(taskID string, sig syscall.Signal, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tasks[taskID]
	if t == nil || t.cmd == nil || t.cmd.Process == nil || t.LastStatus != statusRunning {
		return ErrNoSuchTask
	}
	if reason != "" && t.StopCode == "" {
		t.StopCode, t.StoppedReason = "EssentialContainerExited", reason
	}
	t.Signals = append(t.Signals, map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT"}[sig])
	return syscall.Kill(-t.cmd.Process.Pid, sig)
}

func (s *Server) postKill(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Task          string `json:"task"`
		Signal        string `json:"signal"`
		StoppedReason string `json:"stoppedReason"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sig := syscall.SIGKILL
	switch strings.TrimPrefix(strings.ToUpper(in.Signal), "SIG") {
	case "", "KILL":
	case "TERM":
		sig = syscall.SIGTERM
	case "INT":
		sig = syscall.SIGINT
	default:
		http.Error(w, "signal: want KILL, TERM or INT", http.StatusBadRequest)
		return
	}
	id := in.Task[strings.LastIndex(in.Task, "/")+1:]
	if err := s.Kill(id, sig, in.StoppedReason); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// InjectFault queues f.
func (s *Server) InjectFault(f Fault) {
	f.Count = max(f.Count, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// SetConfig replaces the knobs.
func (s *Server) SetConfig(c Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.config = c
}

// takeFault returns the first queued fault for op and uses one of its counts; s.mu is held.
func (s *Server) takeFault(op string) *Fault {
	for i, f := range s.faults {
		if f.Operation != op {
			continue
		}
		f.Count--
		if f.Count <= 0 {
			s.faults = slices.Delete(s.faults, i, i+1)
		}
		return f
	}
	return nil
}

// State returns a snapshot of the tasks and the calls.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{MaxInFlight: s.maxInFlight, Calls: map[string]int{}, Config: s.config,
		RunTaskCalls: append([]RunTaskCall{}, s.runCalls...), Tasks: []TaskRecord{}}
	for op, n := range s.calls {
		st.Calls[op] = n
	}
	for _, id := range s.order {
		st.Tasks = append(st.Tasks, s.tasks[id].TaskRecord.clone())
	}
	return st
}

func (s *Server) postFaults(w http.ResponseWriter, r *http.Request) {
	var faults []Fault
	b, err := readBody(r)
	if err == nil {
		// One fault or a list.
		if len(b) > 0 && b[0] == '[' {
			err = json.Unmarshal(b, &faults)
		} else {
			var f Fault
			err = json.Unmarshal(b, &f)
			faults = []Fault{f}
		}
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, f := range faults {
		if f.Operation == "" || (f.Error == "" && f.Failures == nil && f.StoppedReason == "") {
			http.Error(w, "a fault needs an operation and one of error, failures, stoppedReason", http.StatusBadRequest)
			return
		}
		s.InjectFault(f)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) postConfig(w http.ResponseWriter, r *http.Request) {
	var c Config
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil || c.MaxTasks < 0 || c.StepDelay < 0 {
		http.Error(w, fmt.Sprintf("want {\"stepDelay\":\"100ms\",\"maxTasks\":N}: %v", err), http.StatusBadRequest)
		return
	}
	s.SetConfig(c)
	w.WriteHeader(http.StatusNoContent)
}

func readBody(r *http.Request) ([]byte, error) {
	var raw json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// ServeHTTP answers one ECS call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := awssim.JSONOperation(w, r, TargetPrefix)
	if !ok {
		return
	}
	s.mu.Lock()
	s.calls[op]++
	f := s.takeFault(op)
	s.mu.Unlock()
	if f != nil && f.Error != "" {
		status := f.Status
		if status == 0 {
			status = http.StatusBadRequest
			if f.Error == "ServerException" {
				status = http.StatusInternalServerError
			}
		}
		msg := cmp.Or(f.Message, defaultMessages[f.Error], f.Error)
		if op == "RunTask" {
			s.recordRunTask(RunTaskCall{Error: f.Error})
		}
		awssim.WriteJSONError(w, status, f.Error, msg)
		return
	}
	var err error
	switch op {
	case "RegisterTaskDefinition":
		err = s.registerTaskDefinition(w, r)
	case "DescribeTaskDefinition":
		err = s.describeTaskDefinition(w, r)
	case "RunTask":
		err = s.runTask(w, r, f)
	case "DescribeTasks":
		err = s.describeTasks(w, r)
	case "StopTask":
		err = s.stopTask(w, r)
	default:
		err = &apiError{"UnknownOperationException", "operation not supported by the contract server: " + op}
	}
	if err != nil {
		ae, ok := err.(*apiError)
		if !ok {
			ae = &apiError{"SerializationException", err.Error()}
		}
		status := http.StatusBadRequest
		if ae.typ == "ServerException" {
			status = http.StatusInternalServerError
		}
		awssim.WriteJSONError(w, status, ae.typ, ae.msg)
	}
}

var defaultMessages = map[string]string{
	"ThrottlingException":   "Rate exceeded",
	"ServerException":       "Service Unavailable. Please try again later.",
	"AccessDeniedException": "User is not authorized to perform this action",
}

// apiError is an error answer of a modeled type.
type apiError struct{ typ, msg string }

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func clientErr(format string, a ...any) error {
	return &apiError{"ClientException", fmt.Sprintf(format, a...)}
}

func paramErr(format string, a ...any) error {
	return &apiError{"InvalidParameterException", fmt.Sprintf(format, a...)}
}

func decode(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return &apiError{"SerializationException", err.Error()}
	}
	return nil
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func (s *Server) arn(resource string) string {
	return "arn:aws:ecs:" + s.opts.Region + ":" + Account + ":" + resource
}

// clusterName accepts a cluster's name or ARN; the default cluster is "default". The server
// has every cluster it is asked about: the stack's clusters need no creating.
func clusterName(c string) string {
	if i := strings.LastIndex(c, ":cluster/"); i >= 0 {
		return c[i+len(":cluster/"):]
	}
	return cmp.Or(c, "default")
}

var familyRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

// fargateMemory lists, per task CPU units, the memory sizes (MiB) Fargate accepts.
func fargateMemory(cpu int) []int {
	steps := func(from, to, step int) []int {
		var out []int
		for m := from; m <= to; m += step {
			out = append(out, m)
		}
		return out
	}
	switch cpu {
	case 256:
		return []int{512, 1024, 2048}
	case 512:
		return steps(1024, 4096, 1024)
	case 1024:
		return steps(2048, 8192, 1024)
	case 2048:
		return steps(4096, 16384, 1024)
	case 4096:
		return steps(8192, 30720, 1024)
	case 8192:
		return steps(16384, 61440, 4096)
	case 16384:
		return steps(32768, 122880, 8192)
	}
	return nil
}

func (s *Server) registerTaskDefinition(w http.ResponseWriter, r *http.Request) error {
	var in registerTaskDefinitionInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if !familyRE.MatchString(in.Family) {
		return clientErr("Family contains invalid characters or is too long. Up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed.")
	}
	if len(in.ContainerDefinitions) == 0 {
		return clientErr("Container list cannot be empty.")
	}
	names := map[string]bool{}
	for _, c := range in.ContainerDefinitions {
		switch {
		case c.Name == "":
			return clientErr("Container.name should not be null or empty.")
		case c.Image == "":
			return clientErr("Container.image should not be null or empty.")
		case names[c.Name]:
			return clientErr("Duplicate container names are not allowed.")
		}
		names[c.Name] = true
		if c.StopTimeout != nil && (*c.StopTimeout < 0 || *c.StopTimeout > 120) {
			return clientErr("Invalid 'stopTimeout' value for container %s: it must be between 0 and 120 seconds on Fargate.", c.Name)
		}
		if lc := c.LogConfiguration; lc != nil && lc.LogDriver == "awslogs" {
			if lc.Options["awslogs-group"] == "" || lc.Options["awslogs-region"] == "" {
				return clientErr("Log driver awslogs requires options: awslogs-group, awslogs-region")
			}
		}
	}
	networkMode := cmp.Or(in.NetworkMode, "bridge")
	compat := []string{"EC2"}
	if slices.Contains(in.RequiresCompatibilities, "FARGATE") {
		if networkMode != "awsvpc" {
			return clientErr("Fargate only supports network mode 'awsvpc'.")
		}
		if in.Cpu == "" {
			return clientErr("Fargate requires that 'cpu' be defined at the task level.")
		}
		if in.Memory == "" {
			return clientErr("Fargate requires that 'memory' be defined at the task level.")
		}
		cpu, _ := strconv.Atoi(in.Cpu)
		mem, _ := strconv.Atoi(in.Memory)
		if !slices.Contains(fargateMemory(cpu), mem) {
			return clientErr("No Fargate configuration exists for given values: %s CPU, %s memory. See the Amazon ECS documentation for the valid values.", in.Cpu, in.Memory)
		}
		for _, c := range in.ContainerDefinitions {
			if c.LogConfiguration != nil && c.LogConfiguration.LogDriver == "awslogs" && in.ExecutionRoleArn == "" {
				return clientErr("Fargate requires task definition to have execution role ARN to support log driver awslogs.")
			}
		}
		compat = []string{"EC2", "FARGATE"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	revs := s.families[in.Family]
	td := &taskDefinition{
		Family: in.Family, Revision: int32(len(revs) + 1), Status: "ACTIVE",
		TaskRoleArn: in.TaskRoleArn, ExecutionRoleArn: in.ExecutionRoleArn, NetworkMode: networkMode,
		ContainerDefinitions: in.ContainerDefinitions, RequiresCompatibilities: in.RequiresCompatibilities,
		Compatibilities: compat, Cpu: in.Cpu, Memory: in.Memory, RuntimePlatform: in.RuntimePlatform,
		RegisteredAt: epoch(time.Now()), RegisteredBy: "arn:aws:iam::" + Account + ":user/ragmigrate-local",
	}
	td.TaskDefinitionArn = s.arn(fmt.Sprintf("task-definition/%s:%d", td.Family, td.Revision))
	s.families[in.Family] = append(revs, td)
	s.save()
	awssim.WriteJSON(w, map[string]any{"taskDefinition": td, "tags": in.Tags})
	return nil
}

// lookupTaskDefinition finds "family", "family:revision" or an ARN; s.mu is held. A bare family
// names its latest ACTIVE revision.
func (s *Server) lookupTaskDefinition(ref string) *taskDefinition {
	if i := strings.LastIndex(ref, ":task-definition/"); i >= 0 {
		ref = ref[i+len(":task-definition/"):]
	}
	family, rev, hasRev := strings.Cut(ref, ":")
	revs := s.families[family]
	if !hasRev {
		if len(revs) == 0 {
			return nil
		}
		return revs[len(revs)-1]
	}
	n, err := strconv.Atoi(rev)
	if err != nil || n < 1 || n > len(revs) {
		return nil
	}
	return revs[n-1]
}

func (s *Server) describeTaskDefinition(w http.ResponseWriter, r *http.Request) error {
	var in describeTaskDefinitionInput
	if err := decode(r, &in); err != nil {
		return err
	}
	s.mu.Lock()
	td := s.lookupTaskDefinition(in.TaskDefinition)
	s.mu.Unlock()
	if td == nil {
		return clientErr("Unable to describe task definition.")
	}
	awssim.WriteJSON(w, map[string]any{"taskDefinition": td})
	return nil
}

// maxOverridesBytes is ECS's limit on a RunTask's overrides, as JSON.
const maxOverridesBytes = 8192

func (s *Server) runTask(w http.ResponseWriter, r *http.Request, f *Fault) error {
	var in runTaskInput
	if err := decode(r, &in); err != nil {
		return err
	}
	cluster := clusterName(in.Cluster)
	count := 1
	if in.Count != nil {
		count = int(*in.Count)
	}
	fail := func(err error) error {
		s.recordRunTask(RunTaskCall{Cluster: cluster, ClientToken: in.ClientToken, Error: err.(*apiError).typ})
		return err
	}
	if count < 1 || count > 10 {
		return fail(paramErr("Task count must be between 1 and 10."))
	}
	if in.ClientToken != "" && len(in.ClientToken) > 64 {
		return fail(paramErr("clientToken must be at most 64 characters."))
	}
	s.mu.Lock()
	td := s.lookupTaskDefinition(in.TaskDefinition)
	s.mu.Unlock()
	if td == nil {
		return fail(paramErr("TaskDefinition not found."))
	}
	switch in.LaunchType {
	case "FARGATE":
		if !slices.Contains(td.Compatibilities, "FARGATE") {
			return fail(clientErr("Task definition does not support launch_type FARGATE."))
		}
	case "", "EC2", "EXTERNAL":
		// The server has no container instances: only Fargate runs tasks.
		return fail(paramErr("No Container Instances were found in your cluster."))
	default:
		return fail(paramErr("launchType must be one of EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES."))
	}
	var subnet string
	if td.NetworkMode == "awsvpc" {
		nc := in.NetworkConfiguration
		if nc == nil || nc.AwsvpcConfiguration == nil {
			return fail(paramErr("Network Configuration must be provided when networkMode 'awsvpc' is specified."))
		}
		vpc := nc.AwsvpcConfiguration
		switch {
		case len(vpc.Subnets) == 0:
			return fail(paramErr("subnets can not be empty."))
		case len(vpc.Subnets) > 16:
			return fail(paramErr("subnets can have at most 16 items."))
		case len(vpc.SecurityGroups) > 5:
			return fail(paramErr("securityGroups can have at most 5 items."))
		case vpc.AssignPublicIp != "" && vpc.AssignPublicIp != "ENABLED" && vpc.AssignPublicIp != "DISABLED":
			return fail(paramErr("assignPublicIp must be one of ENABLED, DISABLED."))
		}
		for _, sn := range vpc.Subnets {
			if !strings.HasPrefix(sn, "subnet-") {
				return fail(paramErr("Error retrieving subnet information for [%s]: The subnet ID '%s' is malformed", sn, sn))
			}
		}
		for _, sg := range vpc.SecurityGroups {
			if !strings.HasPrefix(sg, "sg-") {
				return fail(paramErr("Error retrieving security group information for [%s]: The security group '%s' does not exist", sg, sg))
			}
		}
		subnet = vpc.Subnets[0]
	}
	var overrides taskOverride
	if in.Overrides != nil {
		overrides = *in.Overrides
		b, _ := json.Marshal(overrides)
		if len(b) > maxOverridesBytes {
			return fail(paramErr("Container Overrides length must be at most %d", maxOverridesBytes))
		}
		for _, o := range overrides.ContainerOverrides {
			if !slices.ContainsFunc(td.ContainerDefinitions, func(c containerDefinition) bool { return c.Name == o.Name }) {
				return fail(paramErr("Override for container named %s is not a container in the TaskDefinition.", o.Name))
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if ids, ok := s.tokens[in.ClientToken]; ok && in.ClientToken != "" {
		// An idempotent retry: the tasks the first call started.
		out := make([]taskJSON, len(ids))
		var arns []string
		for i, id := range ids {
			out[i] = s.render(s.tasks[id])
			arns = append(arns, s.tasks[id].Arn)
		}
		s.recordRunTaskLocked(RunTaskCall{Cluster: cluster, ClientToken: in.ClientToken, Tasks: arns})
		awssim.WriteJSON(w, map[string]any{"tasks": out, "failures": []Failure{}})
		return nil
	}
	var failures []Failure
	if f != nil && f.Failures != nil {
		for _, fl := range f.Failures {
			if fl.Arn == "" {
				fl.Arn = s.arn("cluster/" + cluster)
			}
			failures = append(failures, fl)
		}
	}
	started := []taskJSON{}
	var arns, ids []string
	for i := 0; i < count && failures == nil; i++ {
		if s.config.MaxTasks > 0 && s.inFlightLocked() >= s.config.MaxTasks {
			failures = append(failures, Failure{Arn: s.arn("cluster/" + cluster), Reason: CapacityReason})
			break
		}
		t := s.newTaskLocked(cluster, td, overrides, subnet, in, "http://"+r.Host)
		started = append(started, s.render(t))
		arns = append(arns, t.Arn)
		ids = append(ids, t.ID)
	}
	if in.ClientToken != "" && len(ids) > 0 {
		s.tokens[in.ClientToken] = ids
	}
	s.recordRunTaskLocked(RunTaskCall{Cluster: cluster, ClientToken: in.ClientToken, Tasks: arns, Failures: failures})
	s.save()
	if failures == nil {
		failures = []Failure{}
	}
	awssim.WriteJSON(w, map[string]any{"tasks": started, "failures": failures})
	return nil
}

func (s *Server) recordRunTask(c RunTaskCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordRunTaskLocked(c)
}

func (s *Server) recordRunTaskLocked(c RunTaskCall) {
	c.At = time.Now()
	c.InFlight = s.inFlightLocked()
	s.runCalls = append(s.runCalls, c)
}

func (s *Server) inFlightLocked() int {
	n := 0
	for _, t := range s.tasks {
		if t.LastStatus != statusStopped {
			n++
		}
	}
	return n
}

// findTask accepts a task's ID or ARN within cluster; s.mu is held.
func (s *Server) findTask(cluster, ref string) *task {
	id := ref
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		id = ref[i+1:]
	}
	t := s.tasks[id]
	if t == nil || t.Cluster != cluster {
		return nil
	}
	return t
}

func (s *Server) describeTasks(w http.ResponseWriter, r *http.Request) error {
	var in describeTasksInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if len(in.Tasks) == 0 {
		return paramErr("Tasks cannot be empty.")
	}
	if len(in.Tasks) > 100 {
		return paramErr("Tasks cannot contain more than 100 items.")
	}
	cluster := clusterName(in.Cluster)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []taskJSON{}
	failures := []Failure{}
	for _, ref := range in.Tasks {
		if t := s.findTask(cluster, ref); t != nil {
			out = append(out, s.render(t))
		} else {
			failures = append(failures, Failure{Arn: ref, Reason: "MISSING"})
		}
	}
	awssim.WriteJSON(w, map[string]any{"tasks": out, "failures": failures})
	return nil
}

func (s *Server) stopTask(w http.ResponseWriter, r *http.Request) error {
	var in stopTaskInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if len(in.Reason) > 255 {
		return paramErr("Reason must be at most 255 characters.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.findTask(clusterName(in.Cluster), in.Task)
	if t == nil {
		return paramErr("The referenced task was not found.")
	}
	s.stopLocked(t, "UserInitiated", cmp.Or(in.Reason, "Task stopped by user"))
	s.save()
	awssim.WriteJSON(w, map[string]any{"task": s.render(t)})
	return nil
}

func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	t := s.tasks[r.PathValue("id")]
	var out map[string]any
	if t != nil {
		out = map[string]any{"Cluster": s.arn("cluster/" + t.Cluster), "TaskARN": t.Arn, "Family": t.Family,
			"Revision": strconv.Itoa(int(t.Revision)), "DesiredStatus": t.DesiredStatus, "KnownStatus": t.LastStatus,
			"LaunchType": "FARGATE", "AvailabilityZone": s.opts.Region + "a"}
	}
	s.mu.Unlock()
	if t == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
