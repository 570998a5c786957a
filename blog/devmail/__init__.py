"""Development mail: the SMTP sink `make run` starts, and the /dev/mail mailbox that reads it."""
