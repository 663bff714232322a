package bedrocksim

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

func TestKnobs(t *testing.T) {
	t.Parallel()

	t.Run("JSONRoundTrip", func(t *testing.T) {
		t.Parallel()
		k := Knobs{
			Latency: 50 * time.Millisecond, LatencyJitter: time.Second, RequestsPerMinute: 10,
			TokensPerMinute: 1000, ThrottleRate: 0.25, FailRate: 0.5, FailError: "ModelTimeoutException",
			FailOnText: "poison", Seed: 7,
		}
		raw, err := json.Marshal(k)
		require.NoError(t, err)
		require.JSONEq(t, `{"latency":"50ms","latency_jitter":"1s","requests_per_minute":10,
			"tokens_per_minute":1000,"throttle_rate":0.25,"fail_rate":0.5,
			"fail_error":"ModelTimeoutException","fail_on_text":"poison","seed":7}`, string(raw))
		var back Knobs
		require.NoError(t, json.Unmarshal(raw, &back))
		require.Equal(t, k, back)

		var ns Knobs
		require.NoError(t, json.Unmarshal([]byte(`{"latency":1000000}`), &ns))
		require.Equal(t, time.Millisecond, ns.Latency)
		require.Error(t, json.Unmarshal([]byte(`{"latncy":"1ms"}`), &ns))
	})

	t.Run("Validate", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name  string
			knobs Knobs
			ok    bool
		}{
			{"Zero", Knobs{}, true},
			{"Full", Knobs{Latency: time.Second, ThrottleRate: 1, FailRate: 0.1, FailError: "ThrottlingException"}, true},
			{"NegativeLatency", Knobs{Latency: -1}, false},
			{"NegativeRPM", Knobs{RequestsPerMinute: -1}, false},
			{"RateOverOne", Knobs{FailRate: 1.5}, false},
			{"UnknownError", Knobs{FailError: "Oops"}, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				if tt.ok {
					require.NoError(t, tt.knobs.Validate())
				} else {
					require.Error(t, tt.knobs.Validate())
				}
			})
		}
	})

	t.Run("Flags", func(t *testing.T) {
		t.Parallel()
		var k Knobs
		fs := pflag.NewFlagSet("sim", pflag.ContinueOnError)
		k.AddFlags(fs)
		require.NoError(t, fs.Parse([]string{
			"--latency=20ms", "--latency-jitter=5ms", "--rpm=60", "--tpm=9000", "--throttle-rate=0.1",
			"--fail-rate=0.2", "--fail-error=ModelNotReadyException", "--fail-on-text=XX", "--seed=3",
		}))
		require.Equal(t, Knobs{
			Latency: 20 * time.Millisecond, LatencyJitter: 5 * time.Millisecond, RequestsPerMinute: 60,
			TokensPerMinute: 9000, ThrottleRate: 0.1, FailRate: 0.2, FailError: "ModelNotReadyException",
			FailOnText: "XX", Seed: 3,
		}, k)
	})
}
