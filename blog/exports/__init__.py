"""Download your data (GDPR Art. 15 and 20): a ZIP of everything a person put into the site."""
