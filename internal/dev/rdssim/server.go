// Package rdssim is a contract server (test double) for the part of Amazon RDS that 'ragmigrate
// snapshot' uses: DescribeDBClusterSnapshots, RestoreDBClusterFromSnapshot, CreateDBInstance,
// DescribeDBClusters, DescribeDBInstances, ModifyDBCluster (ManageMasterUserPassword),
// ListTagsForResource, DeleteDBInstance and DeleteDBCluster, in the AWS query protocol the SDK
// speaks (a form POST with Version=2014-10-31, answered in XML; errors as ErrorResponse with the
// modeled fault's name as Code). The SDK reaches it through AWS_ENDPOINT_URL_RDS.
//
// # Overview
//
// There is no Aurora here, only the local stack's source PostgreSQL cluster, so the server models
// a snapshot as a template database on that cluster (snap_<id>, created from a database by the
// knob POST /_dev/rds/snapshots) and restoring one as CREATE DATABASE <cluster id> TEMPLATE
// snap_<id>: the restored "cluster" is that database, reached at the source cluster's host and
// port. Its master user is a login role of the same name that owns the database and everything in
// it; the shared cluster's admin password is never handed out. ModifyDBCluster with
// ManageMasterUserPassword gives the role a new password and stores {"username","password"} in
// Secrets Manager (through SecretStore), as RDS does. Clusters and instances are "creating" for
// Options.Delay after they are asked for, so a client's wait is exercised.
//
// Deliberate differences from RDS: the master username is the cluster identifier, not the
// snapshot's; deletions are immediate (no "deleting" phase); subnet groups and security groups are
// recorded, not checked; one page answers every Describe.
//
// It is part of the development rig and never linked into the operator's binary.
package rdssim

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ragmigrate/ragmigrate/internal/dev/awssim"
)

// Version is the RDS API version the query protocol names in every request.
const Version = "2014-10-31"

// DefaultDelay is how long a new cluster or instance stays "creating".
const DefaultDelay = 2 * time.Second

const (
	region  = "us-east-1"
	account = "000000000000"
	engine  = "aurora-postgresql"
)

// SecretStore is where the RDS-managed master user secret goes: Secrets Manager, or a stand-in.
type SecretStore interface {
	// Put creates (or replaces) the secret name with secretString and returns its ARN.
	Put(name, secretString string) (arn string, err error)
}

// Options configure the server.
type Options struct {
	// AdminURL is the source cluster's admin URL (a superuser or a role with CREATEDB and
	// CREATEROLE): the cluster every snapshot and restored cluster lives on.
	AdminURL string
	// Dir holds the server's state (rds.json), so that snapshots and clusters survive a restart.
	// Empty keeps the state in memory only.
	Dir string
	// Secrets receives the RDS-managed master user secrets.
	Secrets SecretStore
	// Delay is how long a new cluster or instance stays "creating". Default DefaultDelay; a
	// negative value makes them available at once.
	Delay time.Duration
	// Logger receives a line per state change. Default slog.Default().
	Logger *slog.Logger
}

// Server is the RDS test double; it is an http.Handler for the query protocol, safe for
// concurrent use. Register it with Register.
type Server struct {
	opts Options
	pg   *cluster
	log  *slog.Logger

	// mu guards st and serialises the operations that change the databases, so that two calls
	// never race on one name.
	mu sync.Mutex
	st state
}

// state is what the server persists.
type state struct {
	Delay     time.Duration         `json:"delay"`
	Snapshots map[string]*snapshot  `json:"snapshots"`
	Clusters  map[string]*dbCluster `json:"clusters"`
	Instances map[string]*instance  `json:"instances"`
}

type tag struct{ Key, Value string }

type snapshot struct {
	ID            string    `json:"id"`
	ClusterID     string    `json:"cluster_id"`
	Database      string    `json:"database"` // the template database holding the content
	Type          string    `json:"type"`     // manual or automated
	Status        string    `json:"status"`
	EngineVersion string    `json:"engine_version"`
	MasterUser    string    `json:"master_user"`
	Created       time.Time `json:"created"`
	Tags          []tag     `json:"tags"`
}

type dbCluster struct {
	ID             string    `json:"id"`
	ResourceID     string    `json:"resource_id"`
	Snapshot       string    `json:"snapshot"`
	EngineVersion  string    `json:"engine_version"`
	SubnetGroup    string    `json:"subnet_group"`
	SecurityGroups []string  `json:"security_groups"`
	MinACU         float64   `json:"min_acu"`
	MaxACU         float64   `json:"max_acu"`
	Created        time.Time `json:"created"`
	ReadyAt        time.Time `json:"ready_at"`
	SecretARN      string    `json:"secret_arn"`
	Tags           []tag     `json:"tags"`
}

type instance struct {
	ID        string    `json:"id"`
	ClusterID string    `json:"cluster_id"`
	Class     string    `json:"class"`
	Created   time.Time `json:"created"`
	ReadyAt   time.Time `json:"ready_at"`
	Tags      []tag     `json:"tags"`
}

// New returns a server; it reads its state from opts.Dir when there is one. It does not connect to
// the cluster until a call needs it.
func New(opts Options) (*Server, error) {
	if opts.Delay == 0 {
		opts.Delay = DefaultDelay
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, log: opts.Logger, pg: &cluster{adminURL: opts.AdminURL},
		st: state{Delay: opts.Delay, Snapshots: map[string]*snapshot{}, Clusters: map[string]*dbCluster{}, Instances: map[string]*instance{}}}
	if err := awssim.LoadState(s.statePath(), &s.st); err != nil {
		return nil, fmt.Errorf("rds: read state: %w", err)
	}
	s.st.Delay = opts.Delay // the options win over the knob's last setting
	return s, nil
}

// Register routes the RDS query protocol and the /_dev/rds/ knobs of a to s.
func (s *Server) Register(a *awssim.Server) {
	a.HandleQuery(Version, s)
	a.HandleDev("POST /_dev/rds/snapshots", http.HandlerFunc(s.devCreateSnapshot))
	a.HandleDev("DELETE /_dev/rds/snapshots/{id}", http.HandlerFunc(s.devDeleteSnapshot))
	a.HandleDev("POST /_dev/rds/delay", http.HandlerFunc(s.devSetDelay))
	a.HandleDev("GET /_dev/rds/clusters/{id}/source-db", http.HandlerFunc(s.devSourceDB))
}

// statePath is where the state is kept: "" (memory only) without a Dir.
func (s *Server) statePath() string {
	if s.opts.Dir == "" {
		return ""
	}
	return filepath.Join(s.opts.Dir, "rds.json")
}

// save writes the state; the caller holds mu.
func (s *Server) save() error {
	if err := awssim.SaveState(s.statePath(), &s.st); err != nil {
		return fmt.Errorf("rds: write state: %w", err)
	}
	return nil
}

// fault is an error the API models: Code names the fault, Status is its HTTP status.
type fault struct {
	Status int
	Code   string
	Msg    string
}

func (f *fault) Error() string { return f.Code + ": " + f.Msg }

func notFound(code, msg string) *fault { return &fault{http.StatusNotFound, code, msg} }
func invalid(code, msg string) *fault  { return &fault{http.StatusBadRequest, code, msg} }

// The NotFound faults of the three kinds of resource, worded as RDS words them.
func snapshotNotFound(id string) *fault {
	return notFound("DBClusterSnapshotNotFoundFault", fmt.Sprintf("DBClusterSnapshot %s not found.", id))
}
func clusterNotFound(id string) *fault {
	return notFound("DBClusterNotFoundFault", fmt.Sprintf("DBCluster %s not found.", id))
}
func instanceNotFound(id string) *fault {
	return notFound("DBInstanceNotFoundFault", fmt.Sprintf("DBInstance %s not found.", id))
}

// lookup is the resource id of a state map, or its kind's NotFound fault (missing).
func lookup[T any](m map[string]*T, id string, missing func(string) *fault) (*T, error) {
	if v, ok := m[id]; ok {
		return v, nil
	}
	return nil, missing(id)
}

// describe renders the resources of a state map that keep accepts, in identifier order. As in
// RDS, a Describe that names one resource (id) and finds none answers its kind's NotFound fault;
// one that names none answers an empty list.
func describe[T, X any](m map[string]*T, id string, missing func(string) *fault, keep func(*T) bool, render func(*T) X) ([]X, error) {
	var out []X
	for _, v := range sortedByID(m) {
		if keep(v) {
			out = append(out, render(v))
		}
	}
	if id != "" && len(out) == 0 {
		return nil, missing(id)
	}
	return out, nil
}

// ServeHTTP answers one query protocol call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		awssim.WriteQueryError(w, http.StatusBadRequest, "MalformedQueryString", err.Error())
		return
	}
	if r.Header.Get("Authorization") == "" {
		awssim.WriteQueryError(w, http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
		return
	}
	f := form(r.PostForm)
	action := f.get("Action")
	handlers := map[string]func(context.Context, form) (any, error){
		"DescribeDBClusterSnapshots":   s.describeSnapshots,
		"RestoreDBClusterFromSnapshot": s.restore,
		"CreateDBInstance":             s.createInstance,
		"DescribeDBClusters":           s.describeClusters,
		"DescribeDBInstances":          s.describeInstances,
		"ModifyDBCluster":              s.modifyCluster,
		"ListTagsForResource":          s.listTags,
		"DeleteDBInstance":             s.deleteInstance,
		"DeleteDBCluster":              s.deleteCluster,
	}
	h, ok := handlers[action]
	if !ok {
		awssim.WriteQueryError(w, http.StatusBadRequest, "InvalidAction", "The action "+action+" is not valid for this web service.")
		return
	}
	// Every handler reads the state and may change it and the databases: one call at a time, so
	// that two calls never race on one name. The handlers run with mu held (deferred, so that a
	// handler's panic does not leave it locked).
	result, err := func() (any, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return h(r.Context(), f)
	}()
	var flt *fault
	switch {
	case errors.As(err, &flt):
		awssim.WriteQueryError(w, flt.Status, flt.Code, flt.Msg)
		return
	case err != nil:
		s.log.Error("rds call failed", slog.String("action", action), slog.Any("err", err))
		awssim.WriteQueryError(w, http.StatusInternalServerError, "InternalFailure", err.Error())
		return
	}
	awssim.WriteQueryResult(w, "http://rds.amazonaws.com/doc/"+Version+"/", action, result)
}

// now and the status of a resource: "creating" until readyAt, then "available".
func status(readyAt time.Time) string {
	if time.Now().Before(readyAt) {
		return "creating"
	}
	return "available"
}

func (s *Server) readyAt() time.Time {
	if s.st.Delay < 0 {
		return time.Now()
	}
	return time.Now().Add(s.st.Delay)
}

func (s *Server) describeSnapshots(_ context.Context, f form) (any, error) {
	id := snapshotID(f.get("DBClusterSnapshotIdentifier"))
	clusterID := f.get("DBClusterIdentifier")
	typ := f.get("SnapshotType")
	out, err := describe(s.st.Snapshots, id, snapshotNotFound, func(sn *snapshot) bool {
		return (id == "" || sn.ID == id) && (clusterID == "" || sn.ClusterID == clusterID) && (typ == "" || sn.Type == typ)
	}, renderSnapshot)
	if err != nil {
		return nil, err
	}
	return struct {
		Snapshots []xmlSnapshot `xml:"DBClusterSnapshots>DBClusterSnapshot"`
	}{out}, nil
}

func (s *Server) restore(ctx context.Context, f form) (any, error) {
	id := f.get("DBClusterIdentifier")
	if err := checkIdentifier("DBClusterIdentifier", id); err != nil {
		return nil, err
	}
	snapID := snapshotID(f.get("SnapshotIdentifier"))
	if f.get("Engine") == "" || snapID == "" {
		return nil, invalid("MissingParameter", "The request must contain the parameters Engine and SnapshotIdentifier.")
	}
	if _, ok := s.st.Clusters[id]; ok {
		return nil, invalid("DBClusterAlreadyExistsFault", "DB Cluster already exists")
	}
	sn, err := lookup(s.st.Snapshots, snapID, snapshotNotFound)
	if err != nil {
		return nil, err
	}
	if sn.Status != "available" {
		return nil, invalid("InvalidDBClusterSnapshotStateFault", fmt.Sprintf("DBClusterSnapshot %s is not in available state: %s", snapID, sn.Status))
	}
	if f.get("Engine") != engine {
		return nil, invalid("InvalidParameterCombination", fmt.Sprintf("The engine %s does not match the snapshot's engine %s.", f.get("Engine"), engine))
	}
	version := f.get("EngineVersion")
	if version == "" {
		version = sn.EngineVersion
	}
	if version != sn.EngineVersion {
		// RDS restores to the snapshot's version or an upgrade target; the rig has one version.
		return nil, invalid("InvalidParameterCombination", fmt.Sprintf("Cannot restore snapshot of engine version %s to version %s.", sn.EngineVersion, version))
	}
	c := &dbCluster{ID: id, ResourceID: "cluster-" + randomHex(13), Snapshot: sn.ID, EngineVersion: version,
		SubnetGroup: f.get("DBSubnetGroupName"), SecurityGroups: f.list("VpcSecurityGroupIds"),
		Created: time.Now(), ReadyAt: s.readyAt(), Tags: f.tags()}
	if v := f.get("ServerlessV2ScalingConfiguration.MinCapacity"); v != "" {
		fmt.Sscan(v, &c.MinACU)
		fmt.Sscan(f.get("ServerlessV2ScalingConfiguration.MaxCapacity"), &c.MaxACU)
	}
	if err := s.pg.restore(ctx, sn.Database, id); err != nil {
		return nil, fmt.Errorf("restore %s from %s: %w", id, sn.ID, err)
	}
	s.st.Clusters[id] = c
	if err := s.save(); err != nil {
		return nil, err
	}
	s.log.Info("rds cluster restored", slog.String("cluster", id), slog.String("snapshot", sn.ID))
	return struct {
		Cluster xmlCluster `xml:"DBCluster"`
	}{s.renderCluster(c)}, nil
}

func (s *Server) createInstance(_ context.Context, f form) (any, error) {
	id := f.get("DBInstanceIdentifier")
	if err := checkIdentifier("DBInstanceIdentifier", id); err != nil {
		return nil, err
	}
	if _, ok := s.st.Instances[id]; ok {
		return nil, invalid("DBInstanceAlreadyExistsFault", "DB instance already exists")
	}
	clusterID := f.get("DBClusterIdentifier")
	c, err := lookup(s.st.Clusters, clusterID, clusterNotFound)
	if err != nil {
		return nil, err
	}
	class := f.get("DBInstanceClass")
	if class == "" || f.get("Engine") != engine {
		return nil, invalid("InvalidParameterCombination", "DBInstanceClass is required and Engine must match the cluster's engine "+engine+".")
	}
	if class == "db.serverless" && c.MaxACU == 0 {
		return nil, invalid("InvalidParameterCombination", "Set the Serverless v2 scaling configuration on the parent DB cluster before creating a Serverless v2 DB instance.")
	}
	in := &instance{ID: id, ClusterID: clusterID, Class: class, Created: time.Now(), ReadyAt: s.readyAt(), Tags: f.tags()}
	s.st.Instances[id] = in
	if err := s.save(); err != nil {
		return nil, err
	}
	return struct {
		Instance xmlInstance `xml:"DBInstance"`
	}{renderInstance(in)}, nil
}

func (s *Server) describeClusters(_ context.Context, f form) (any, error) {
	id := f.get("DBClusterIdentifier")
	out, err := describe(s.st.Clusters, id, clusterNotFound, func(c *dbCluster) bool {
		return id == "" || c.ID == id || s.clusterARN(c.ID) == id
	}, s.renderCluster)
	if err != nil {
		return nil, err
	}
	return struct {
		Clusters []xmlCluster `xml:"DBClusters>DBCluster"`
	}{out}, nil
}

func (s *Server) describeInstances(_ context.Context, f form) (any, error) {
	id := f.get("DBInstanceIdentifier")
	want, byCluster := f.filters()["db-cluster-id"]
	out, err := describe(s.st.Instances, id, instanceNotFound, func(in *instance) bool {
		return (id == "" || in.ID == id) &&
			(!byCluster || slices.Contains(want, in.ClusterID) || slices.Contains(want, s.clusterARN(in.ClusterID)))
	}, renderInstance)
	if err != nil {
		return nil, err
	}
	return struct {
		Instances []xmlInstance `xml:"DBInstances>DBInstance"`
	}{out}, nil
}

func (s *Server) modifyCluster(ctx context.Context, f form) (any, error) {
	id := f.get("DBClusterIdentifier")
	c, err := lookup(s.st.Clusters, id, clusterNotFound)
	if err != nil {
		return nil, err
	}
	if st := status(c.ReadyAt); st != "available" {
		return nil, invalid("InvalidDBClusterStateFault", fmt.Sprintf("DB cluster %s is not in an available state: %s", id, st))
	}
	if f.get("ManageMasterUserPassword") == "true" && c.SecretARN == "" {
		if s.opts.Secrets == nil {
			return nil, errors.New("no Secrets Manager to keep the master user secret in")
		}
		password := randomHex(16)
		if err := s.pg.setPassword(ctx, id, password); err != nil {
			return nil, fmt.Errorf("master user password of %s: %w", id, err)
		}
		secret, _ := json.Marshal(map[string]string{"username": id, "password": password})
		arn, err := s.opts.Secrets.Put("rds!"+c.ResourceID, string(secret))
		if err != nil {
			return nil, fmt.Errorf("master user secret of %s: %w", id, err)
		}
		c.SecretARN = arn
		if err := s.save(); err != nil {
			return nil, err
		}
		s.log.Info("rds master user secret created", slog.String("cluster", id))
	}
	return struct {
		Cluster xmlCluster `xml:"DBCluster"`
	}{s.renderCluster(c)}, nil
}

func (s *Server) listTags(_ context.Context, f form) (any, error) {
	arn := f.get("ResourceName")
	var tags []tag
	switch kind, name, _ := strings.Cut(strings.TrimPrefix(arn, "arn:aws:rds:"+region+":"+account+":"), ":"); kind {
	case "cluster":
		c, err := lookup(s.st.Clusters, name, clusterNotFound)
		if err != nil {
			return nil, err
		}
		tags = c.Tags
	case "db":
		in, err := lookup(s.st.Instances, name, instanceNotFound)
		if err != nil {
			return nil, err
		}
		tags = in.Tags
	case "cluster-snapshot":
		sn, err := lookup(s.st.Snapshots, name, snapshotNotFound)
		if err != nil {
			return nil, err
		}
		tags = sn.Tags
	default:
		return nil, invalid("InvalidParameterValue", "Unrecognized resource identifier: "+arn)
	}
	return struct {
		Tags []xmlTag `xml:"TagList>Tag"`
	}{renderTags(tags)}, nil
}

func (s *Server) deleteInstance(_ context.Context, f form) (any, error) {
	id := f.get("DBInstanceIdentifier")
	in, err := lookup(s.st.Instances, id, instanceNotFound)
	if err != nil {
		return nil, err
	}
	if st := status(in.ReadyAt); st != "available" {
		return nil, invalid("InvalidDBInstanceStateFault", fmt.Sprintf("Instance %s is not in available state: %s", id, st))
	}
	delete(s.st.Instances, id)
	if err := s.save(); err != nil {
		return nil, err
	}
	out := renderInstance(in)
	out.DBInstanceStatus = "deleting"
	return struct {
		Instance xmlInstance `xml:"DBInstance"`
	}{out}, nil
}

func (s *Server) deleteCluster(ctx context.Context, f form) (any, error) {
	id := f.get("DBClusterIdentifier")
	c, err := lookup(s.st.Clusters, id, clusterNotFound)
	if err != nil {
		return nil, err
	}
	if f.get("SkipFinalSnapshot") != "true" {
		// The rig takes no final snapshots: a client that wants none must say so, as RDS requires
		// either the flag or a FinalDBSnapshotIdentifier.
		return nil, invalid("InvalidParameterCombination", "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.")
	}
	for _, in := range s.st.Instances {
		if in.ClusterID == id {
			return nil, invalid("InvalidDBClusterStateFault", "Cluster cannot be deleted, it still contains DB instances in non-deleting state.")
		}
	}
	if st := status(c.ReadyAt); st != "available" {
		return nil, invalid("InvalidDBClusterStateFault", fmt.Sprintf("DB cluster %s is not in an available state: %s", id, st))
	}
	if err := s.pg.drop(ctx, id); err != nil {
		return nil, fmt.Errorf("delete cluster %s: %w", id, err)
	}
	out := s.renderCluster(c)
	out.Status = "deleting"
	delete(s.st.Clusters, id)
	if err := s.save(); err != nil {
		return nil, err
	}
	s.log.Info("rds cluster deleted", slog.String("cluster", id))
	return struct {
		Cluster xmlCluster `xml:"DBCluster"`
	}{out}, nil
}

// SnapshotRequest is the body of POST /_dev/rds/snapshots: record Database's content as a
// snapshot of the (old) cluster ClusterID.
type SnapshotRequest struct {
	ID            string `json:"id"`
	ClusterID     string `json:"cluster_id"`
	Database      string `json:"database"`
	Type          string `json:"type,omitempty"`           // manual (default) or automated
	Status        string `json:"status,omitempty"`         // available (default); e.g. creating to test a client
	EngineVersion string `json:"engine_version,omitempty"` // default 15.3, the app's Aurora version
	MasterUser    string `json:"master_user,omitempty"`    // default postgres
}

// CreateSnapshot records database's content now as a snapshot (a template database). A snapshot
// with the same id is replaced.
func (s *Server) CreateSnapshot(ctx context.Context, req SnapshotRequest) error {
	if err := checkIdentifier("id", req.ID); err != nil {
		return err
	}
	if req.ClusterID == "" || req.Database == "" {
		return errors.New("cluster_id and database are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	template := "snap_" + strings.ReplaceAll(req.ID, "-", "_")
	if err := s.pg.snapshot(ctx, req.Database, template); err != nil {
		return fmt.Errorf("snapshot %s of %s: %w", req.ID, req.Database, err)
	}
	sn := &snapshot{ID: req.ID, ClusterID: req.ClusterID, Database: template, Type: cmp.Or(req.Type, "manual"),
		Status: cmp.Or(req.Status, "available"), EngineVersion: cmp.Or(req.EngineVersion, "15.3"),
		MasterUser: cmp.Or(req.MasterUser, "postgres"), Created: time.Now()}
	s.st.Snapshots[req.ID] = sn
	s.log.Info("rds snapshot recorded", slog.String("snapshot", req.ID), slog.String("cluster", req.ClusterID))
	return s.save()
}

// MakeAvailable ends the "creating" phase of every cluster and instance now, as if Delay had
// passed: a test that interrupts a client mid-wait need not wait for the delay to continue.
func (s *Server) MakeAvailable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for _, c := range s.st.Clusters {
		if c.ReadyAt.After(now) {
			c.ReadyAt = now
		}
	}
	for _, in := range s.st.Instances {
		if in.ReadyAt.After(now) {
			in.ReadyAt = now
		}
	}
	return s.save()
}

// DeleteSnapshot drops a snapshot and its template database.
func (s *Server) DeleteSnapshot(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, err := lookup(s.st.Snapshots, id, snapshotNotFound)
	if err != nil {
		return err
	}
	if err := s.pg.dropDatabase(ctx, sn.Database); err != nil {
		return err
	}
	delete(s.st.Snapshots, id)
	return s.save()
}

func (s *Server) devCreateSnapshot(w http.ResponseWriter, r *http.Request) {
	var req SnapshotRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.CreateSnapshot(r.Context(), req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) devDeleteSnapshot(w http.ResponseWriter, r *http.Request) {
	if err := s.DeleteSnapshot(r.Context(), r.PathValue("id")); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// devSetDelay sets how long new clusters and instances stay "creating": {"delay":"5s"}.
func (s *Server) devSetDelay(w http.ResponseWriter, r *http.Request) {
	var req struct{ Delay string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d, err := time.ParseDuration(req.Delay)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.st.Delay = d
	err = s.save()
	s.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// devSourceDB answers the URL of a restored cluster's database with its master user's password,
// read from the RDS-managed secret when the SecretStore can read secrets back (MemorySecrets):
// the development rig's stand-in for reading the secret from Secrets Manager.
func (s *Server) devSourceDB(w http.ResponseWriter, r *http.Request) {
	getter, ok := s.opts.Secrets.(interface {
		SecretString(id string) (string, bool)
	})
	s.mu.Lock()
	c, found := s.st.Clusters[r.PathValue("id")]
	var arn string
	if found {
		arn = c.SecretARN
	}
	s.mu.Unlock()
	switch {
	case !found:
		http.Error(w, "no such cluster", http.StatusNotFound)
		return
	case arn == "":
		http.Error(w, "the cluster has no RDS-managed secret yet (ModifyDBCluster ManageMasterUserPassword)", http.StatusConflict)
		return
	case !ok:
		http.Error(w, "read the secret "+arn+" from Secrets Manager", http.StatusNotFound)
		return
	}
	secret, _ := getter.SecretString(arn)
	var creds struct{ Username, Password string }
	if err := json.Unmarshal([]byte(secret), &creds); err != nil {
		http.Error(w, "secret "+arn+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	u, err := SourceURL(s.opts.AdminURL, c.ID, creds.Password)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = fmt.Fprintln(w, u)
}

// snapshotID accepts an identifier or an ARN, as the API does.
func snapshotID(v string) string {
	if i := strings.LastIndex(v, ":cluster-snapshot:"); i >= 0 {
		return v[i+len(":cluster-snapshot:"):]
	}
	return v
}

// checkIdentifier applies RDS's identifier rules: 1 to 63 letters, digits or hyphens, starting
// with a letter, no two hyphens in a row, not ending with one. They also make the identifier a
// safe database and role name.
func checkIdentifier(name, v string) error {
	ok := len(v) >= 1 && len(v) <= 63 && v[0] >= 'a' && v[0] <= 'z' && !strings.Contains(v, "--") && !strings.HasSuffix(v, "-")
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			ok = false
		}
	}
	if !ok {
		return invalid("InvalidParameterValue", fmt.Sprintf("The parameter %s is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens.", name))
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// sortedByID lists a state map's values in the order of their identifiers, the map's keys.
func sortedByID[T any](m map[string]*T) []*T {
	out := make([]*T, 0, len(m))
	for _, id := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[id])
	}
	return out
}
