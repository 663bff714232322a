package rdssim

import (
	"fmt"
	"sync"
)

// MemorySecrets is a SecretStore in memory, for tests and for a rig without a Secrets Manager
// contract server. Secrets are named as Secrets Manager names them in ARNs.
type MemorySecrets struct {
	mu      sync.Mutex
	secrets map[string]string // by ARN
}

// Put stores secretString under name and returns its ARN.
func (m *MemorySecrets) Put(name, secretString string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.secrets == nil {
		m.secrets = map[string]string{}
	}
	arn := fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", region, account, name, randomHex(6))
	m.secrets[arn] = secretString
	return arn, nil
}

// SecretString returns the secret string stored under arn (the name secretsim.Server uses too).
func (m *MemorySecrets) SecretString(arn string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.secrets[arn]
	return v, ok
}
