// Package servicequotasim is a contract server (test double) for the part of
// AWS Service Quotas that ragmigrate reads: ListServiceQuotas and
// GetServiceQuota, in the AWS JSON 1.1 protocol the SDK speaks
// (POST / with X-Amz-Target: ServiceQuotasV20190624.<Operation>). The SDK
// reaches it through AWS_ENDPOINT_URL_SERVICE_QUOTAS.
//
// It is part of the development rig, next to the Bedrock contract server,
// and is never linked into the operator's binary.
package servicequotasim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/ragmigrate/ragmigrate/internal/dev/awssim"
)

// Quota is one quota the server lists.
type Quota struct {
	ServiceCode string
	QuotaCode   string
	QuotaName   string
	Value       float64
}

// Server is the Service Quotas test double; it is an http.Handler, safe for
// concurrent use.
type Server struct {
	mu     sync.Mutex
	quotas []Quota
	deny   bool
	calls  map[string]int
}

// New returns a server listing quotas.
func New(quotas ...Quota) *Server {
	return &Server{quotas: quotas, calls: map[string]int{}}
}

// SetDenied makes every call answer AccessDeniedException, as Service Quotas
// does for an identity without servicequotas:ListServiceQuotas.
func (s *Server) SetDenied(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = deny
}

// SetQuotas replaces the quotas the server lists.
func (s *Server) SetQuotas(quotas []Quota) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quotas = append([]Quota(nil), quotas...)
}

// Quotas returns the quotas the server lists.
func (s *Server) Quotas() []Quota {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Quota(nil), s.quotas...)
}

// Register routes the Service Quotas JSON protocol of a to s, and its knobs, with which a
// benchmark or a demo gives the model a quota to read without restarting the stack:
//
//	GET /_dev/servicequotas/quotas   the quotas listed, as a JSON array of Quota
//	PUT /_dev/servicequotas/quotas   replace them ([] lists none: the account's quotas unreadable by name)
func (s *Server) Register(a *awssim.Server) {
	a.HandleJSON(TargetPrefix, s)
	a.HandleDev("GET /_dev/servicequotas/quotas", http.HandlerFunc(s.getQuotas))
	a.HandleDev("PUT /_dev/servicequotas/quotas", http.HandlerFunc(s.putQuotas))
}

func (s *Server) getQuotas(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(append([]Quota{}, s.Quotas()...)) // [] rather than null
}

func (s *Server) putQuotas(w http.ResponseWriter, r *http.Request) {
	var qs []Quota
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&qs); err != nil {
		http.Error(w, "decode quotas: "+err.Error(), http.StatusBadRequest)
		return
	}
	for _, q := range qs {
		if q.ServiceCode == "" || q.QuotaCode == "" || q.QuotaName == "" || q.Value < 0 {
			http.Error(w, "every quota needs a ServiceCode, QuotaCode, QuotaName and a Value of 0 or more", http.StatusBadRequest)
			return
		}
	}
	s.SetQuotas(qs)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(qs)
}

// Calls counts the calls by operation.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// TargetPrefix is the X-Amz-Target prefix of the Service Quotas API.
const TargetPrefix = "ServiceQuotasV20190624"

// ServeHTTP answers one call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := awssim.JSONOperation(w, r, TargetPrefix)
	if !ok {
		return
	}
	var in struct {
		ServiceCode string
		QuotaCode   string
		NextToken   string
		MaxResults  int
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		awssim.WriteJSONError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	s.mu.Lock()
	s.calls[op]++
	deny := s.deny
	quotas := append([]Quota(nil), s.quotas...)
	s.mu.Unlock()
	if deny {
		awssim.WriteJSONError(w, http.StatusBadRequest, "AccessDeniedException",
			fmt.Sprintf("User is not authorized to perform: servicequotas:%s", op))
		return
	}
	var mine []Quota
	for _, q := range quotas {
		if q.ServiceCode == in.ServiceCode {
			mine = append(mine, q)
		}
	}
	switch op {
	case "ListServiceQuotas":
		// Pages of MaxResults (default 100), so that a client that ignores
		// NextToken misses quotas, as it would against the real service.
		size := in.MaxResults
		if size <= 0 {
			size = 100
		}
		from := 0
		if in.NextToken != "" {
			n, err := strconv.Atoi(in.NextToken)
			if err != nil || n < 0 || n > len(mine) {
				awssim.WriteJSONError(w, http.StatusBadRequest, "InvalidPaginationTokenException", "Invalid pagination token")
				return
			}
			from = n
		}
		to := min(from+size, len(mine))
		out := map[string]any{"Quotas": render(mine[from:to])}
		if to < len(mine) {
			out["NextToken"] = strconv.Itoa(to)
		}
		awssim.WriteJSON(w, out)
	case "GetServiceQuota":
		for _, q := range mine {
			if q.QuotaCode == in.QuotaCode {
				awssim.WriteJSON(w, map[string]any{"Quota": render([]Quota{q})[0]})
				return
			}
		}
		awssim.WriteJSONError(w, http.StatusBadRequest, "NoSuchResourceException", "The request failed because the specified resource does not exist.")
	default:
		awssim.WriteJSONError(w, http.StatusBadRequest, "UnknownOperationException", "no such operation: "+op)
	}
}

// serviceNames are the names Service Quotas gives the services ragmigrate reads.
var serviceNames = map[string]string{"bedrock": "Amazon Bedrock", "fargate": "AWS Fargate"}

// FargateDefault is Fargate's On-Demand vCPU quota as a new account has it (the ECS developer
// guide's "Fargate On-Demand vCPU resource count", 6 where AWS has lowered new accounts'), so
// that a stack answers what a run on ECS reads for its default --max-tasks.
var FargateDefault = Quota{ServiceCode: "fargate", QuotaCode: "L-3032A538", QuotaName: "Fargate On-Demand vCPU resource count", Value: 6}

func render(qs []Quota) []map[string]any {
	out := make([]map[string]any, len(qs))
	for i, q := range qs {
		out[i] = map[string]any{
			"ServiceCode": q.ServiceCode, "ServiceName": serviceNames[q.ServiceCode], "QuotaCode": q.QuotaCode,
			"QuotaName": q.QuotaName, "Value": q.Value, "Unit": "None", "Adjustable": true, "GlobalQuota": false,
			"QuotaArn": "arn:aws:servicequotas:us-east-1:000000000000:" + q.ServiceCode + "/" + q.QuotaCode,
		}
	}
	return out
}
