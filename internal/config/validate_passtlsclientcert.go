package config

func (v *validator) passTLSClientCert(p string, s *PassTLSClientCert) {
	if !s.PEM && s.Info == nil {
		v.add(p, "set pem: true or info (the fields to send): with neither, nothing is passed")
	}
}
