package policy

import (
	"fmt"

	"cel.dev/cel-go/cel"
)

type compiledRule struct {
	Rule
	prg cel.Program
}

// celEnv declares the variables rules may use.
func celEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("subject", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("attestations", cel.ListType(cel.MapType(cel.StringType, cel.DynType))),
		cel.Variable("provenance", cel.MapType(cel.StringType, cel.DynType)),
	)
}

func compileRules(rules []Rule) ([]*compiledRule, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("creating CEL environment: %w", err)
	}
	var out []*compiledRule
	for _, r := range rules {
		ast, iss := env.Compile(r.Expr)
		if iss.Err() != nil {
			return nil, fmt.Errorf("rule %q: %w", r.Name, iss.Err())
		}
		if ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
			return nil, fmt.Errorf("rule %q: expression must be a boolean, not %s", r.Name, ast.OutputType())
		}
		prg, err := env.Program(ast, cel.CostLimit(1_000_000))
		if err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.Name, err)
		}
		out = append(out, &compiledRule{Rule: r, prg: prg})
	}
	return out, nil
}

// RuleResult is one rule's verdict.
type RuleResult struct {
	Rule   Rule
	Passed bool
	// Err is set when the rule could not be evaluated (a missing field,
	// a non-boolean result); such a rule fails, never passes.
	Err error
}

// EvalRules evaluates every rule over vars. A rule that errors fails.
func (p *Policy) EvalRules(vars map[string]any) []RuleResult {
	var out []RuleResult
	for _, r := range p.rules {
		res := RuleResult{Rule: r.Rule}
		v, _, err := r.prg.Eval(vars)
		switch {
		case err != nil:
			res.Err = err
		default:
			b, ok := v.Value().(bool)
			if !ok {
				res.Err = fmt.Errorf("result is %T, not a boolean", v.Value())
			}
			res.Passed = ok && b
		}
		out = append(out, res)
	}
	return out
}
