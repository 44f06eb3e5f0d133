"""Console accounts: passwords, sign-in links, single sign-on and browser sessions."""
