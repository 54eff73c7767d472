"""imgdrop."""
