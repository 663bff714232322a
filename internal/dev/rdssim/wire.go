package rdssim

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// form reads the query protocol's flattened parameters.
type form url.Values

func (f form) get(k string) string { return url.Values(f).Get(k) }

// list reads a list of strings, "Name.Member.1", "Name.Member.2", ... (the member's name varies
// by shape: VpcSecurityGroupIds.VpcSecurityGroupId.1), in index order.
func (f form) list(name string) []string {
	type item struct {
		i int
		v string
	}
	var items []item
	for k, vs := range f {
		rest, ok := strings.CutPrefix(k, name+".")
		if !ok || len(vs) == 0 {
			continue
		}
		_, idx, _ := strings.Cut(rest, ".")
		i, err := strconv.Atoi(idx)
		if err != nil {
			continue
		}
		items = append(items, item{i, vs[0]})
	}
	sort.Slice(items, func(a, b int) bool { return items[a].i < items[b].i })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.v
	}
	return out
}

// tags reads Tags.Tag.N.Key / Tags.Tag.N.Value.
func (f form) tags() []tag {
	var out []tag
	for i := 1; ; i++ {
		p := "Tags.Tag." + strconv.Itoa(i) + "."
		k, ok := f[p+"Key"]
		if !ok {
			return out
		}
		out = append(out, tag{Key: k[0], Value: f.get(p + "Value")})
	}
}

// filters reads Filters.Filter.N.Name / Filters.Filter.N.Values.Value.M.
func (f form) filters() map[string][]string {
	out := map[string][]string{}
	for i := 1; ; i++ {
		p := "Filters.Filter." + strconv.Itoa(i) + "."
		name := f.get(p + "Name")
		if name == "" {
			return out
		}
		out[name] = append(out[name], f.list(p+"Values")...)
	}
}

type xmlTag struct {
	Key   string
	Value string
}

type xmlSnapshot struct {
	DBClusterSnapshotIdentifier string
	DBClusterIdentifier         string
	DBClusterSnapshotArn        string
	SnapshotCreateTime          string
	Engine                      string
	EngineVersion               string
	Status                      string
	SnapshotType                string
	Port                        int
	MasterUsername              string
	PercentProgress             int
	StorageEncrypted            bool
	TagList                     []xmlTag `xml:"TagList>Tag"`
}

type xmlSecurityGroup struct {
	VpcSecurityGroupID string `xml:"VpcSecurityGroupId"`
	Status             string
}

type xmlMember struct {
	DBInstanceIdentifier string
	IsClusterWriter      bool
}

type xmlSecret struct {
	SecretArn    string
	SecretStatus string
	KmsKeyID     string `xml:"KmsKeyId"`
}

type xmlScaling struct {
	MinCapacity float64
	MaxCapacity float64
}

type xmlCluster struct {
	DBClusterIdentifier              string
	DBClusterArn                     string
	DbClusterResourceID              string `xml:"DbClusterResourceId"`
	Status                           string
	Engine                           string
	EngineVersion                    string
	EngineMode                       string
	Endpoint                         string `xml:",omitempty"`
	ReaderEndpoint                   string `xml:",omitempty"`
	Port                             int    `xml:",omitempty"`
	DatabaseName                     string `xml:",omitempty"`
	MasterUsername                   string
	DBSubnetGroup                    string `xml:",omitempty"`
	ClusterCreateTime                string
	StorageEncrypted                 bool
	VpcSecurityGroups                []xmlSecurityGroup `xml:"VpcSecurityGroups>VpcSecurityGroupMembership"`
	DBClusterMembers                 []xmlMember        `xml:"DBClusterMembers>DBClusterMember"`
	MasterUserSecret                 *xmlSecret         `xml:",omitempty"`
	ServerlessV2ScalingConfiguration *xmlScaling        `xml:",omitempty"`
	TagList                          []xmlTag           `xml:"TagList>Tag"`
}

type xmlInstance struct {
	DBInstanceIdentifier string
	DBInstanceArn        string
	DBInstanceClass      string
	DBInstanceStatus     string
	DBClusterIdentifier  string
	Engine               string
	InstanceCreateTime   string
	TagList              []xmlTag `xml:"TagList>Tag"`
}

func renderTags(tags []tag) []xmlTag {
	out := make([]xmlTag, len(tags))
	for i, t := range tags {
		out[i] = xmlTag(t)
	}
	return out
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func renderSnapshot(sn *snapshot) xmlSnapshot {
	return xmlSnapshot{
		DBClusterSnapshotIdentifier: sn.ID, DBClusterIdentifier: sn.ClusterID,
		DBClusterSnapshotArn: "arn:aws:rds:" + region + ":" + account + ":cluster-snapshot:" + sn.ID,
		SnapshotCreateTime:   timestamp(sn.Created), Engine: engine, EngineVersion: sn.EngineVersion,
		Status: sn.Status, SnapshotType: sn.Type, Port: 5432, MasterUsername: sn.MasterUser,
		PercentProgress: 100, StorageEncrypted: true, TagList: renderTags(sn.Tags),
	}
}

func (s *Server) clusterARN(id string) string {
	return "arn:aws:rds:" + region + ":" + account + ":cluster:" + id
}

// renderCluster describes c; the caller holds mu. The endpoint is the source cluster's, and the
// database the restored one, which is how a client reaches the restored data here.
func (s *Server) renderCluster(c *dbCluster) xmlCluster {
	host, port := s.pg.endpoint()
	out := xmlCluster{
		DBClusterIdentifier: c.ID, DBClusterArn: s.clusterARN(c.ID), DbClusterResourceID: c.ResourceID,
		Status: status(c.ReadyAt), Engine: engine, EngineVersion: c.EngineVersion, EngineMode: "provisioned",
		Endpoint: host, ReaderEndpoint: host, Port: port, DatabaseName: c.ID, MasterUsername: c.ID,
		DBSubnetGroup: c.SubnetGroup, ClusterCreateTime: timestamp(c.Created), StorageEncrypted: true,
		TagList: renderTags(c.Tags),
	}
	for _, sg := range c.SecurityGroups {
		out.VpcSecurityGroups = append(out.VpcSecurityGroups, xmlSecurityGroup{sg, "active"})
	}
	for _, in := range sortedByID(s.st.Instances) {
		if in.ClusterID == c.ID {
			out.DBClusterMembers = append(out.DBClusterMembers, xmlMember{in.ID, true})
		}
	}
	if c.SecretARN != "" {
		out.MasterUserSecret = &xmlSecret{SecretArn: c.SecretARN, SecretStatus: "active", KmsKeyID: "alias/aws/secretsmanager"}
	}
	if c.MaxACU > 0 {
		out.ServerlessV2ScalingConfiguration = &xmlScaling{c.MinACU, c.MaxACU}
	}
	return out
}

func renderInstance(in *instance) xmlInstance {
	return xmlInstance{
		DBInstanceIdentifier: in.ID, DBInstanceArn: "arn:aws:rds:" + region + ":" + account + ":db:" + in.ID,
		DBInstanceClass: in.Class, DBInstanceStatus: status(in.ReadyAt), DBClusterIdentifier: in.ClusterID,
		Engine: engine, InstanceCreateTime: timestamp(in.Created), TagList: renderTags(in.Tags),
	}
}
