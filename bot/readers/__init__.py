"""What each reader chose to get and when: languages, sections, followed words, digests, quiet hours."""
