package admission

import (
	"github.com/pipeguard/pipeguard/internal/oci"
	"github.com/pipeguard/pipeguard/internal/policy"
	"github.com/pipeguard/pipeguard/internal/verify"
)

// PolicyLoader loads pipeguard policy files into judges.
func PolicyLoader(opts ...verify.Option) LoadFunc {
	return func(path string) (oci.Judge, string, error) {
		p, err := policy.Load(path)
		if err != nil {
			return nil, "", err
		}
		v, err := verify.New(p, opts...)
		if err != nil {
			return nil, "", err
		}
		return oci.PolicyJudge(v), p.Digest(), nil
	}
}
