"""What an article is about beyond its text: its language, its section, whether it is breaking news."""
