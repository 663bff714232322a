package ecssim

// The request and response shapes of the ECS operations the server answers, with the member
// names of the AWS JSON 1.1 wire format (the SDK's schemas: camelCase; timestamps as epoch
// seconds). Members the server does not model are ignored on input and absent on output.

type keyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type logConfiguration struct {
	LogDriver string            `json:"logDriver"`
	Options   map[string]string `json:"options,omitempty"`
}

type containerDefinition struct {
	Name             string            `json:"name,omitempty"`
	Image            string            `json:"image,omitempty"`
	Cpu              int32             `json:"cpu,omitempty"`
	Memory           *int32            `json:"memory,omitempty"`
	Essential        *bool             `json:"essential,omitempty"`
	EntryPoint       []string          `json:"entryPoint,omitempty"`
	Command          []string          `json:"command,omitempty"`
	Environment      []keyValue        `json:"environment,omitempty"`
	WorkingDirectory string            `json:"workingDirectory,omitempty"`
	User             string            `json:"user,omitempty"`
	StopTimeout      *int32            `json:"stopTimeout,omitempty"`
	LogConfiguration *logConfiguration `json:"logConfiguration,omitempty"`
}

type runtimePlatform struct {
	CpuArchitecture       string `json:"cpuArchitecture,omitempty"`
	OperatingSystemFamily string `json:"operatingSystemFamily,omitempty"`
}

type taskDefinition struct {
	TaskDefinitionArn       string                `json:"taskDefinitionArn"`
	Family                  string                `json:"family"`
	Revision                int32                 `json:"revision"`
	Status                  string                `json:"status"`
	TaskRoleArn             string                `json:"taskRoleArn,omitempty"`
	ExecutionRoleArn        string                `json:"executionRoleArn,omitempty"`
	NetworkMode             string                `json:"networkMode,omitempty"`
	ContainerDefinitions    []containerDefinition `json:"containerDefinitions"`
	RequiresCompatibilities []string              `json:"requiresCompatibilities,omitempty"`
	Compatibilities         []string              `json:"compatibilities"`
	Cpu                     string                `json:"cpu,omitempty"`
	Memory                  string                `json:"memory,omitempty"`
	RuntimePlatform         *runtimePlatform      `json:"runtimePlatform,omitempty"`
	RegisteredAt            float64               `json:"registeredAt"`
	RegisteredBy            string                `json:"registeredBy,omitempty"`
}

type tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type registerTaskDefinitionInput struct {
	Family                  string                `json:"family"`
	TaskRoleArn             string                `json:"taskRoleArn"`
	ExecutionRoleArn        string                `json:"executionRoleArn"`
	NetworkMode             string                `json:"networkMode"`
	ContainerDefinitions    []containerDefinition `json:"containerDefinitions"`
	RequiresCompatibilities []string              `json:"requiresCompatibilities"`
	Cpu                     string                `json:"cpu"`
	Memory                  string                `json:"memory"`
	RuntimePlatform         *runtimePlatform      `json:"runtimePlatform"`
	Tags                    []tag                 `json:"tags"`
}

type describeTaskDefinitionInput struct {
	TaskDefinition string   `json:"taskDefinition"`
	Include        []string `json:"include"`
}

type awsvpcConfiguration struct {
	Subnets        []string `json:"subnets"`
	SecurityGroups []string `json:"securityGroups,omitempty"`
	AssignPublicIp string   `json:"assignPublicIp,omitempty"`
}

type networkConfiguration struct {
	AwsvpcConfiguration *awsvpcConfiguration `json:"awsvpcConfiguration,omitempty"`
}

type containerOverride struct {
	Name        string     `json:"name,omitempty"`
	Command     []string   `json:"command,omitempty"`
	Environment []keyValue `json:"environment,omitempty"`
	Cpu         *int32     `json:"cpu,omitempty"`
	Memory      *int32     `json:"memory,omitempty"`
}

type taskOverride struct {
	ContainerOverrides []containerOverride `json:"containerOverrides,omitempty"`
	Cpu                string              `json:"cpu,omitempty"`
	Memory             string              `json:"memory,omitempty"`
	TaskRoleArn        string              `json:"taskRoleArn,omitempty"`
	ExecutionRoleArn   string              `json:"executionRoleArn,omitempty"`
}

type runTaskInput struct {
	Cluster              string                `json:"cluster"`
	TaskDefinition       string                `json:"taskDefinition"`
	Count                *int32                `json:"count"`
	LaunchType           string                `json:"launchType"`
	NetworkConfiguration *networkConfiguration `json:"networkConfiguration"`
	Overrides            *taskOverride         `json:"overrides"`
	ClientToken          string                `json:"clientToken"`
	StartedBy            string                `json:"startedBy"`
	Group                string                `json:"group"`
	PlatformVersion      string                `json:"platformVersion"`
	Tags                 []tag                 `json:"tags"`
}

// Failure is one entry of failures[] in a RunTask or DescribeTasks answer.
type Failure struct {
	Arn    string `json:"arn,omitempty"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

type describeTasksInput struct {
	Cluster string   `json:"cluster"`
	Tasks   []string `json:"tasks"`
}

type stopTaskInput struct {
	Cluster string `json:"cluster"`
	Task    string `json:"task"`
	Reason  string `json:"reason"`
}

type attachmentDetail struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type attachment struct {
	ID      string             `json:"id"`
	Type    string             `json:"type"`
	Status  string             `json:"status"`
	Details []attachmentDetail `json:"details"`
}

type networkInterface struct {
	AttachmentID       string `json:"attachmentId"`
	PrivateIpv4Address string `json:"privateIpv4Address"`
}

type container struct {
	ContainerArn      string             `json:"containerArn"`
	TaskArn           string             `json:"taskArn"`
	Name              string             `json:"name"`
	Image             string             `json:"image"`
	LastStatus        string             `json:"lastStatus"`
	ExitCode          *int32             `json:"exitCode,omitempty"`
	Reason            string             `json:"reason,omitempty"`
	NetworkInterfaces []networkInterface `json:"networkInterfaces,omitempty"`
}

// taskJSON is a task as DescribeTasks, RunTask and StopTask answer it.
type taskJSON struct {
	TaskArn           string       `json:"taskArn"`
	ClusterArn        string       `json:"clusterArn"`
	TaskDefinitionArn string       `json:"taskDefinitionArn"`
	LastStatus        string       `json:"lastStatus"`
	DesiredStatus     string       `json:"desiredStatus"`
	LaunchType        string       `json:"launchType"`
	PlatformVersion   string       `json:"platformVersion"`
	PlatformFamily    string       `json:"platformFamily"`
	AvailabilityZone  string       `json:"availabilityZone"`
	Cpu               string       `json:"cpu,omitempty"`
	Memory            string       `json:"memory,omitempty"`
	Group             string       `json:"group,omitempty"`
	StartedBy         string       `json:"startedBy,omitempty"`
	Version           int64        `json:"version"`
	CreatedAt         float64      `json:"createdAt"`
	PullStartedAt     float64      `json:"pullStartedAt,omitempty"`
	PullStoppedAt     float64      `json:"pullStoppedAt,omitempty"`
	StartedAt         float64      `json:"startedAt,omitempty"`
	StoppingAt        float64      `json:"stoppingAt,omitempty"`
	ExecutionStopped  float64      `json:"executionStoppedAt,omitempty"`
	StoppedAt         float64      `json:"stoppedAt,omitempty"`
	StopCode          string       `json:"stopCode,omitempty"`
	StoppedReason     string       `json:"stoppedReason,omitempty"`
	Containers        []container  `json:"containers"`
	Overrides         taskOverride `json:"overrides"`
	Attachments       []attachment `json:"attachments"`
	Tags              []tag        `json:"tags,omitempty"`
}
