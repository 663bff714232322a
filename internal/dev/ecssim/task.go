package ecssim

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Task statuses the server goes through.
const (
	statusProvisioning   = "PROVISIONING"
	statusPending        = "PENDING"
	statusRunning        = "RUNNING"
	statusDeprovisioning = "DEPROVISIONING"
	statusStopped        = "STOPPED"
)

// StatusChange is one step of a task's lifecycle.
type StatusChange struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
}

// TaskRecord is what the server knows about a task; GET /_dev/ecs/state lists them.
type TaskRecord struct {
	ID                string         `json:"id"`
	Arn               string         `json:"arn"`
	Cluster           string         `json:"cluster"`
	TaskDefinitionArn string         `json:"taskDefinitionArn"`
	Family            string         `json:"family"`
	Revision          int32          `json:"revision"`
	Container         string         `json:"container"`
	Image             string         `json:"image"`
	Cpu               string         `json:"cpu,omitempty"`
	Memory            string         `json:"memory,omitempty"`
	Subnet            string         `json:"subnet,omitempty"`
	SecurityGroups    []string       `json:"securityGroups,omitempty"`
	AssignPublicIp    string         `json:"assignPublicIp,omitempty"`
	Group             string         `json:"group,omitempty"`
	StartedBy         string         `json:"startedBy,omitempty"`
	Overrides         taskOverride   `json:"overrides"`
	LastStatus        string         `json:"lastStatus"`
	DesiredStatus     string         `json:"desiredStatus"`
	History           []StatusChange `json:"history"`
	CreatedAt         time.Time      `json:"createdAt"`
	PullStartedAt     *time.Time     `json:"pullStartedAt,omitempty"`
	StartedAt         *time.Time     `json:"startedAt,omitempty"`
	StoppingAt        *time.Time     `json:"stoppingAt,omitempty"`
	StoppedAt         *time.Time     `json:"stoppedAt,omitempty"`
	StopCode          string         `json:"stopCode,omitempty"`
	StoppedReason     string         `json:"stoppedReason,omitempty"`
	ExitCode          *int32         `json:"exitCode,omitempty"`
	ContainerReason   string         `json:"containerReason,omitempty"`
	// Argv is the process the task ran (the override's arguments included).
	Argv []string `json:"argv,omitempty"`
	// EnvNames are the names of the process's environment variables; the values, which carry
	// database URLs, are not kept.
	EnvNames  []string `json:"envNames,omitempty"`
	LogGroup  string   `json:"logGroup,omitempty"`
	LogStream string   `json:"logStream,omitempty"`
	// Signals are the signals StopTask sent the process, in order.
	Signals []string `json:"signals,omitempty"`
	Version int64    `json:"version"`
}

func (r TaskRecord) clone() TaskRecord {
	r.History = slices.Clone(r.History)
	r.Argv = slices.Clone(r.Argv)
	r.EnvNames = slices.Clone(r.EnvNames)
	r.SecurityGroups = slices.Clone(r.SecurityGroups)
	r.Signals = slices.Clone(r.Signals)
	return r
}

// task is a TaskRecord and, while it runs, its process.
type task struct {
	TaskRecord

	td           *taskDefinition
	metadataBase string
	cmd          *exec.Cmd
	kill         *time.Timer
}

func (t *task) setStatus(status string, at time.Time) {
	t.LastStatus = status
	t.History = append(t.History, StatusChange{Status: status, At: at})
	t.Version++
}

func ptime(t time.Time) *time.Time { return &t }

// newTaskLocked creates a task and starts its lifecycle; s.mu is held.
func (s *Server) newTaskLocked(cluster string, td *taskDefinition, o taskOverride, subnet string, in runTaskInput, metadataBase string) *task {
	id := newID()
	now := time.Now()
	t := &task{td: td, metadataBase: metadataBase, TaskRecord: TaskRecord{
		ID: id, Arn: s.arn("task/" + cluster + "/" + id), Cluster: cluster,
		TaskDefinitionArn: td.TaskDefinitionArn, Family: td.Family, Revision: td.Revision,
		Container: td.ContainerDefinitions[0].Name, Image: td.ContainerDefinitions[0].Image,
		Cpu: cmpOr(o.Cpu, td.Cpu), Memory: cmpOr(o.Memory, td.Memory), Subnet: subnet,
		Group: cmpOr(in.Group, "family:"+td.Family), StartedBy: in.StartedBy, Overrides: o,
		DesiredStatus: statusRunning, CreatedAt: now,
	}}
	if nc := in.NetworkConfiguration; nc != nil && nc.AwsvpcConfiguration != nil {
		t.SecurityGroups = nc.AwsvpcConfiguration.SecurityGroups
		t.AssignPublicIp = cmpOr(nc.AwsvpcConfiguration.AssignPublicIp, "DISABLED")
	}
	t.setStatus(statusProvisioning, now)
	if lc := td.ContainerDefinitions[0].LogConfiguration; lc != nil && lc.LogDriver == "awslogs" {
		t.LogGroup = lc.Options["awslogs-group"]
		// The awslogs driver names the stream <prefix>/<container>/<task id>, or the container
		// id without a prefix (Fargate requires the prefix).
		t.LogStream = lc.Options["awslogs-stream-prefix"] + "/" + t.Container + "/" + id
	}
	s.tasks[id] = t
	s.order = append(s.order, id)
	s.maxInFlight = max(s.maxInFlight, s.inFlightLocked())
	s.wg.Add(1)
	go s.lifecycle(t)
	return t
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (s *Server) render(t *task) taskJSON {
	secs := func(p *time.Time) float64 {
		if p == nil {
			return 0
		}
		return epoch(*p)
	}
	ip := "10.0." + t.ID[:2] + "." + t.ID[2:4]
	eni := "attachment-" + t.ID[:8]
	out := taskJSON{
		TaskArn: t.Arn, ClusterArn: s.arn("cluster/" + t.Cluster), TaskDefinitionArn: t.TaskDefinitionArn,
		LastStatus: t.LastStatus, DesiredStatus: t.DesiredStatus, LaunchType: "FARGATE",
		PlatformVersion: "1.4.0", PlatformFamily: "Linux", AvailabilityZone: s.opts.Region + "a",
		Cpu: t.Cpu, Memory: t.Memory, Group: t.Group, StartedBy: t.StartedBy, Version: t.Version,
		CreatedAt: epoch(t.CreatedAt), PullStartedAt: secs(t.PullStartedAt), PullStoppedAt: secs(t.StartedAt),
		StartedAt: secs(t.StartedAt), StoppingAt: secs(t.StoppingAt), StoppedAt: secs(t.StoppedAt),
		ExecutionStopped: secs(t.StoppedAt), StopCode: t.StopCode, StoppedReason: t.StoppedReason,
		Overrides: t.Overrides,
		Containers: []container{{
			ContainerArn: s.arn("container/" + t.Cluster + "/" + t.ID + "/" + newIDFrom(t.ID)),
			TaskArn:      t.Arn, Name: t.Container, Image: t.Image, LastStatus: containerStatus(t.LastStatus),
			ExitCode: t.ExitCode, Reason: t.ContainerReason,
			NetworkInterfaces: []networkInterface{{AttachmentID: eni, PrivateIpv4Address: ip}},
		}},
		Attachments: []attachment{},
	}
	if t.Subnet != "" {
		out.Attachments = append(out.Attachments, attachment{ID: eni, Type: "ElasticNetworkInterface",
			Status: attachmentStatus(t.LastStatus), Details: []attachmentDetail{
				{Name: "subnetId", Value: t.Subnet},
				{Name: "networkInterfaceId", Value: "eni-" + t.ID[:17]},
				{Name: "privateIPv4Address", Value: ip},
			}})
	}
	return out
}

// newIDFrom derives a stable container id from the task id.
func newIDFrom(id string) string { return id[16:] + id[:16] }

func containerStatus(task string) string {
	switch task {
	case statusProvisioning, statusPending:
		return statusPending
	case statusDeprovisioning:
		return statusStopped
	}
	return task
}

func attachmentStatus(task string) string {
	switch task {
	case statusProvisioning:
		return "PRECREATED"
	case statusStopped:
		return "DELETED"
	case statusDeprovisioning:
		return "DELETING"
	}
	return "ATTACHED"
}

// stopLocked asks a task to stop; s.mu is held. A running process gets SIGTERM now and SIGKILL
// after the stop timeout; a task not started yet stops before its process starts.
func (s *Server) stopLocked(t *task, code, reason string) {
	if t.LastStatus == statusStopped || t.DesiredStatus == statusStopped {
		return
	}
	now := time.Now()
	t.DesiredStatus = statusStopped
	t.StopCode, t.StoppedReason = code, reason
	t.StoppingAt = ptime(now)
	t.Version++
	if t.cmd == nil || t.cmd.Process == nil {
		return
	}
	proc := t.cmd.Process
	t.Signals = append(t.Signals, "SIGTERM")
	_ = proc.Signal(syscall.SIGTERM)
	timeout := s.opts.StopTimeout
	if st := t.td.ContainerDefinitions[0].StopTimeout; st != nil {
		timeout = time.Duration(*st) * time.Second
	}
	t.kill = time.AfterFunc(timeout, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if t.LastStatus == statusRunning {
			t.Signals = append(t.Signals, "SIGKILL")
			_ = syscall.Kill(-proc.Pid, syscall.SIGKILL)
		}
	})
}

// lifecycle takes a task from PROVISIONING to STOPPED.
func (s *Server) lifecycle(t *task) {
	defer s.wg.Done()
	pause := func() {
		s.mu.Lock()
		d := time.Duration(s.config.StepDelay)
		s.mu.Unlock()
		time.Sleep(d)
	}
	// stopped ends the task; s.mu is held.
	stopped := func(code, reason string) {
		if t.StopCode == "" {
			t.StopCode, t.StoppedReason = code, reason
		}
		t.DesiredStatus = statusStopped
		t.setStatus(statusStopped, time.Now())
		t.StoppedAt = ptime(time.Now())
		t.cmd = nil
		s.save()
	}

	const shutDown = "the ECS contract server shut down"
	pause()
	s.mu.Lock()
	if s.closed {
		stopped("UserInitiated", shutDown)
		s.mu.Unlock()
		return
	}
	if t.DesiredStatus == statusStopped {
		stopped("UserInitiated", "Task stopped by user")
		s.mu.Unlock()
		return
	}
	t.setStatus(statusPending, time.Now())
	t.PullStartedAt = ptime(time.Now())
	fault := s.takeFault("start")
	s.mu.Unlock()

	pause()
	argv, env, err := s.process(t)
	s.mu.Lock()
	switch {
	case s.closed:
		stopped("UserInitiated", shutDown)
		s.mu.Unlock()
		return
	case t.DesiredStatus == statusStopped:
		stopped("UserInitiated", "Task stopped by user")
		s.mu.Unlock()
		return
	case fault != nil:
		t.ContainerReason = fault.StoppedReason
		stopped("TaskFailedToStart", fault.StoppedReason)
		s.mu.Unlock()
		return
	case err != nil:
		t.ContainerReason = "CannotStartContainerError: " + err.Error()
		stopped("TaskFailedToStart", t.ContainerReason)
		s.mu.Unlock()
		return
	}
	if t.LogGroup != "" && s.opts.Logs != nil {
		if err := s.opts.Logs.CreateStream(t.LogGroup, t.LogStream); err != nil {
			t.ContainerReason = "ResourceInitializationError: failed to create the log stream: " + err.Error()
			stopped("TaskFailedToStart", t.ContainerReason)
			s.mu.Unlock()
			return
		}
	}
	dir := filepath.Join(s.opts.Dir, "tasks", t.ID)
	r, w, err := os.Pipe()
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, dir
	// One pipe for stdout and stderr keeps their lines in the order the process wrote them; a
	// process group of its own lets SIGKILL reach its children too.
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err == nil {
		err = cmd.Start()
	}
	if w != nil {
		w.Close()
	}
	if err != nil {
		if r != nil {
			r.Close()
		}
		t.ContainerReason = "CannotStartContainerError: " + err.Error()
		stopped("TaskFailedToStart", t.ContainerReason)
		s.mu.Unlock()
		return
	}
	t.cmd = cmd
	t.Argv = argv
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		t.EnvNames = append(t.EnvNames, name)
	}
	t.StartedAt = ptime(time.Now())
	t.setStatus(statusRunning, time.Now())
	s.save()
	s.mu.Unlock()

	s.pump(t, r)
	r.Close()
	waitErr := cmd.Wait()

	s.mu.Lock()
	if t.kill != nil {
		t.kill.Stop()
	}
	code := int32(cmd.ProcessState.ExitCode())
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		// As Docker reports a container ended by a signal.
		code = 128 + int32(ws.Signal())
	} else if waitErr != nil && !errors.As(waitErr, new(*exec.ExitError)) {
		t.ContainerReason = waitErr.Error()
	}
	t.ExitCode = &code
	if t.StopCode == "" {
		t.StopCode, t.StoppedReason = "EssentialContainerExited", "Essential container in task exited"
	}
	t.setStatus(statusDeprovisioning, time.Now())
	t.cmd = nil
	s.mu.Unlock()
	pause()
	s.mu.Lock()
	stopped("", "")
	s.mu.Unlock()
}

// pump copies the process's lines into the log stream until the pipe closes.
func (s *Server) pump(t *task, r io.Reader) {
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, err := br.ReadString('\n')
		if line != "" && t.LogGroup != "" && s.opts.Logs != nil {
			if perr := s.opts.Logs.Put(t.LogGroup, t.LogStream, time.Now(), strings.TrimSuffix(line, "\n")); perr != nil {
				s.log.Error("ecs: write task log", "task", t.ID, "err", perr)
			}
		}
		if err != nil {
			return
		}
	}
}

// process is the argv and environment of a task's container.
func (s *Server) process(t *task) ([]string, []string, error) {
	if len(t.td.ContainerDefinitions) != 1 {
		return nil, nil, errors.New("the ECS contract server runs tasks of one container only")
	}
	def := t.td.ContainerDefinitions[0]
	if len(def.EntryPoint) > 0 {
		return nil, nil, errors.New("the ECS contract server runs the image's own entry point; the container definition sets entryPoint")
	}
	var argv []string
	s.mu.Lock()
	mapped := slices.Clone(s.images[def.Image])
	s.mu.Unlock()
	if mapped != nil {
		argv = mapped
	} else if s.opts.Program != nil {
		p, err := s.opts.Program(def.Image)
		if err != nil {
			return nil, nil, err
		}
		argv = p
	} else if s.opts.Binary != "" {
		argv = []string{s.opts.Binary}
	} else {
		return nil, nil, errors.New("no local program for image " + def.Image)
	}
	command := def.Command
	var overrideEnv []keyValue
	for _, o := range t.Overrides.ContainerOverrides {
		if o.Name == def.Name {
			if o.Command != nil {
				command = o.Command
			}
			overrideEnv = o.Environment
		}
	}
	argv = append(slices.Clone(argv), command...)

	// A container's environment: the image's basics, the ambient variables (what the task role
	// and the VPC give on AWS), the definition's, the override's, then what ECS sets itself.
	env := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = v
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			set(k, v)
		}
	}
	if s.opts.Env != nil {
		ambient, err := s.opts.Env()
		if err != nil {
			return nil, nil, err
		}
		for _, kv := range ambient {
			if k, v, ok := strings.Cut(kv, "="); ok {
				set(k, v)
			}
		}
	}
	for _, kv := range def.Environment {
		set(kv.Name, kv.Value)
	}
	for _, kv := range overrideEnv {
		set(kv.Name, kv.Value)
	}
	set("AWS_EXECUTION_ENV", "AWS_ECS_FARGATE")
	set("ECS_CONTAINER_METADATA_URI_V4", t.metadataBase+"/_dev/ecs/metadata/"+t.ID)
	if _, ok := env["AWS_REGION"]; !ok {
		set("AWS_REGION", s.opts.Region)
	}
	if _, ok := env["AWS_DEFAULT_REGION"]; !ok {
		set("AWS_DEFAULT_REGION", env["AWS_REGION"])
	}
	out := make([]string, len(order))
	for i, k := range order {
		out[i] = k + "=" + env[k]
	}
	return argv, out, nil
}

// Close stops every running task at once (SIGKILL) and waits for their lifecycles to end; later
// tasks stop before they start.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, t := range s.tasks {
		if t.cmd != nil && t.cmd.Process != nil && t.LastStatus == statusRunning {
			if t.StopCode == "" {
				t.StopCode, t.StoppedReason = "UserInitiated", "the ECS contract server shut down"
			}
			_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}
