// Package cfnsim is a contract server (test double) for the part of AWS CloudFormation that
// ragmigrate reads: DescribeStacks and ListStackResources, in the AWS query protocol the SDK speaks (a form POST with
// Action=DescribeStacks&Version=2010-05-15, answered with XML). The SDK reaches it through
// AWS_ENDPOINT_URL_CLOUDFORMATION. Stacks are published through the development endpoints
// (PUT/DELETE /_dev/cloudformation/stacks/{name}) or Put, and kept in a file so that they
// survive a restart of the stack.
//
// It is part of the development rig and never linked into the operator's binary.
package cfnsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/ragmigrate/ragmigrate/internal/dev/awssim"
)

// Version is the CloudFormation API version the query protocol names.
const Version = "2010-05-15"

// namespace is the XML namespace of CloudFormation's answers.
const namespace = "http://cloudformation.amazonaws.com/doc/" + Version + "/"

// Output is one stack output.
type Output struct {
	OutputKey   string `json:"OutputKey"`
	OutputValue string `json:"OutputValue"`
	ExportName  string `json:"ExportName,omitempty"`
	Description string `json:"Description,omitempty"`
}

// Resource is one of a stack's resources, as ListStackResources summarises it.
type Resource struct {
	LogicalResourceID  string `json:"LogicalResourceId"`
	PhysicalResourceID string `json:"PhysicalResourceId"`
	ResourceType       string `json:"ResourceType"`
}

// Stack is a published stack.
type Stack struct {
	Name      string     `json:"Name"`
	Outputs   []Output   `json:"Outputs"`
	Resources []Resource `json:"Resources,omitempty"`
	Created   time.Time  `json:"Created"`
}

// Server is the CloudFormation test double; it is safe for concurrent use.
type Server struct {
	mu     sync.Mutex
	file   string // "" keeps stacks in memory only
	stacks map[string]Stack
}

// New returns a server keeping its stacks in dir/cloudformation.json ("" for memory only),
// loading the ones a previous run published.
func New(dir string) (*Server, error) {
	s := &Server{stacks: map[string]Stack{}}
	if dir == "" {
		return s, nil
	}
	s.file = filepath.Join(dir, "cloudformation.json")
	if err := awssim.LoadState(s.file, &s.stacks); err != nil {
		return nil, fmt.Errorf("cloudformation state: %w", err)
	}
	return s, nil
}

// Register routes the server's API and development endpoints on a.
func (s *Server) Register(a *awssim.Server) {
	a.HandleQuery(Version, s)
	a.HandleDev("PUT /_dev/cloudformation/stacks/{name}", http.HandlerFunc(s.servePut))
	a.HandleDev("DELETE /_dev/cloudformation/stacks/{name}", http.HandlerFunc(s.serveDelete))
}

// Put publishes (or replaces) a stack with outputs and resources.
func (s *Server) Put(name string, outputs []Output, resources ...Resource) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	created := time.Now().UTC().Truncate(time.Second)
	if old, ok := s.stacks[name]; ok {
		created = old.Created
	}
	s.stacks[name] = Stack{Name: name, Outputs: outputs, Resources: resources, Created: created}
	return s.save()
}

// Delete removes a stack; it reports whether there was one.
func (s *Server) Delete(name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.stacks[name]; !ok {
		return false, nil
	}
	delete(s.stacks, name)
	return true, s.save()
}

func (s *Server) save() error {
	if err := awssim.SaveState(s.file, s.stacks); err != nil {
		return fmt.Errorf("save cloudformation state: %w", err)
	}
	return nil
}

// stackID is the ARN CloudFormation gives a stack.
func stackID(name string) string {
	return "arn:aws:cloudformation:us-east-1:123456789012:stack/" + name + "/00000000-0000-0000-0000-000000000000"
}

// ServeHTTP answers one query-protocol call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		awssim.WriteQueryError(w, http.StatusBadRequest, "MalformedQueryString", err.Error())
		return
	}
	switch action := r.PostForm.Get("Action"); action {
	case "DescribeStacks":
		s.describeStacks(w, r.PostForm.Get("StackName"))
	case "ListStackResources":
		s.listStackResources(w, r.PostForm.Get("StackName"))
	default:
		awssim.WriteQueryError(w, http.StatusBadRequest, "InvalidAction", "The action "+action+" is not valid for this web service.")
	}
}

// The XML shapes of DescribeStacksResult, as the SDK's query deserializer reads them: lists
// are <member> elements, times RFC 3339.
type (
	xmlOutput struct {
		OutputKey   string `xml:"OutputKey"`
		OutputValue string `xml:"OutputValue"`
		Description string `xml:"Description,omitempty"`
		ExportName  string `xml:"ExportName,omitempty"`
	}
	xmlStack struct {
		StackID      string      `xml:"StackId"`
		StackName    string      `xml:"StackName"`
		CreationTime string      `xml:"CreationTime"`
		StackStatus  string      `xml:"StackStatus"`
		Outputs      []xmlOutput `xml:"Outputs>member"`
	}
	describeStacksResult struct {
		Stacks []xmlStack `xml:"Stacks>member"`
	}
)

func (s *Server) describeStacks(w http.ResponseWriter, name string) {
	s.mu.Lock()
	var list []Stack
	if name == "" {
		for _, st := range s.stacks {
			list = append(list, st)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	} else if st, ok := s.stacks[name]; ok {
		list = append(list, st)
	}
	s.mu.Unlock()
	if name != "" && len(list) == 0 {
		// What CloudFormation answers for a name (or id) it does not know.
		awssim.WriteQueryError(w, http.StatusBadRequest, "ValidationError", "Stack with id "+name+" does not exist")
		return
	}
	var resp describeStacksResult
	for _, st := range list {
		xs := xmlStack{StackID: stackID(st.Name), StackName: st.Name, CreationTime: st.Created.Format(time.RFC3339), StackStatus: "UPDATE_COMPLETE"}
		for _, o := range st.Outputs {
			xs.Outputs = append(xs.Outputs, xmlOutput{OutputKey: o.OutputKey, OutputValue: o.OutputValue, Description: o.Description, ExportName: o.ExportName})
		}
		resp.Stacks = append(resp.Stacks, xs)
	}
	awssim.WriteQueryResult(w, namespace, "DescribeStacks", resp)
}

type (
	xmlResource struct {
		LogicalResourceID    string `xml:"LogicalResourceId"`
		PhysicalResourceID   string `xml:"PhysicalResourceId"`
		ResourceType         string `xml:"ResourceType"`
		ResourceStatus       string `xml:"ResourceStatus"`
		LastUpdatedTimestamp string `xml:"LastUpdatedTimestamp"`
	}
	listStackResourcesResult struct {
		Resources []xmlResource `xml:"StackResourceSummaries>member"`
	}
)

// listStackResources answers every resource in one page (a Bedrock Chat stack has a few
// hundred; CloudFormation pages at 100, which the SDK's paginator would follow).
func (s *Server) listStackResources(w http.ResponseWriter, name string) {
	s.mu.Lock()
	st, ok := s.stacks[name]
	s.mu.Unlock()
	if !ok {
		awssim.WriteQueryError(w, http.StatusBadRequest, "ValidationError", "Stack with id "+name+" does not exist")
		return
	}
	var resp listStackResourcesResult
	for _, r := range st.Resources {
		resp.Resources = append(resp.Resources, xmlResource{LogicalResourceID: r.LogicalResourceID, PhysicalResourceID: r.PhysicalResourceID,
			ResourceType: r.ResourceType, ResourceStatus: "CREATE_COMPLETE", LastUpdatedTimestamp: st.Created.Format(time.RFC3339)})
	}
	awssim.WriteQueryResult(w, namespace, "ListStackResources", resp)
}

// servePut publishes the stack named in the path with the outputs in the body:
// {"Outputs": [{"OutputKey": …, "OutputValue": …, "ExportName": …}], "Resources": [{"LogicalResourceId": …,
// "PhysicalResourceId": …, "ResourceType": …}]}.
func (s *Server) servePut(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Outputs   []Output
		Resources []Resource
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
		http.Error(w, "decode body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.Put(r.PathValue("name"), in.Outputs, in.Resources...); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request) {
	ok, err := s.Delete(r.PathValue("name"))
	switch {
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	case !ok:
		http.Error(w, "no stack "+r.PathValue("name"), http.StatusNotFound)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
